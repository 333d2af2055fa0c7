"""stylize.py end to end on tiny images with random weights."""
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from adain_jax import image_io
from adain_jax import weights as wts
from adain_jax.nn import models
from conftest import REPO, run_stylize, write_noise_images


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    p = models.init_params(jax.random.PRNGKey(3))
    wts.save_params(d / "vgg.npz", {"vgg": p["vgg"]})
    wts.save_params(d / "dec.npz", {"decoder": p["decoder"]})
    return ["--vgg", str(d / "vgg.npz"), "--decoder", str(d / "dec.npz")]


make_images, run = write_noise_images, run_stylize


def test_single_pair_to_named_file(tmp_path, weights, capsys):
    (c,), (s,) = make_images(tmp_path / "c", 1, 0), make_images(tmp_path / "s", 1, 1)
    out = tmp_path / "o" / "result.jpg"
    code, stdout, _ = run(["--content", str(c), "--style", str(s), "--output", str(out),
                           "--content-size", "0", *weights], capsys)
    assert code == 0 and out.exists()
    assert image_io.load_image(out).shape == (20, 28, 3)  # content's size kept


def test_folder_by_folder_with_a_bad_image(tmp_path, weights, capsys):
    make_images(tmp_path / "c", 3, 2)
    (tmp_path / "c" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    make_images(tmp_path / "s", 2, 3)
    out = tmp_path / "out"
    code, _, err = run(["--content", str(tmp_path / "c"), "--style", str(tmp_path / "s"),
                        "--output", str(out), "--content-size", "16", "--style-size", "16",
                        "--quiet", *weights], capsys)
    assert code == 1
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"img{i}_stylized_img{j}.png" for i in range(3) for j in range(2))
    assert "broken.jpg" in err and "2 of 8 output(s) failed" in err
    assert image_io.load_image(out / "img0_stylized_img1.png").shape == (16, 22, 3)
    # no overwrite without --overwrite: every output is refused, files untouched
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    code, _, err = run(["--content", str(tmp_path / "c" / "img0.png"), "--style",
                        str(tmp_path / "s"), "--output", str(out), "--quiet", *weights], capsys)
    assert code == 1 and err.count("exists; pass --overwrite") == 2
    assert before == {p: p.stat().st_mtime_ns for p in out.iterdir()}
    code, _, _ = run(["--content", str(tmp_path / "c" / "img0.png"), "--style",
                      str(tmp_path / "s"), "--output", str(out), "--overwrite", "--quiet", *weights],
                     capsys)
    assert code == 0


def test_folder_results_equal_single_runs(tmp_path, weights, capsys):
    cs = make_images(tmp_path / "c", 3, 4)
    (s,) = make_images(tmp_path / "s", 1, 5)
    run(["--content", str(tmp_path / "c"), "--style", str(s), "--output", str(tmp_path / "batch"),
         "--batch-size", "3", "--quiet", *weights], capsys)
    run(["--content", str(cs[1]), "--style", str(s), "--output", str(tmp_path / "one.png"), *weights],
        capsys)
    a = image_io.load_image(tmp_path / "batch" / "img1_stylized_img0.png")
    b = image_io.load_image(tmp_path / "one.png")
    assert np.abs(a - b).max() <= 1 / 255 + 1e-6


def test_bfloat16_flag_matches_float32(tmp_path, capsys):
    """--dtype bfloat16 (oneDNN kernels on a bf16 CPU, XLA otherwise) stays close to float32
    with the shipped weights."""
    (c,), (s,) = make_images(tmp_path / "c", 1, 10, (40, 48)), make_images(tmp_path / "s", 1, 11)
    for dtype in ("float32", "bfloat16"):
        code, _, err = run(["--content", str(c), "--style", str(s), "--output",
                            str(tmp_path / f"{dtype}.png"), "--dtype", dtype, "--content-size",
                            "0", "--style-size", "0"], capsys)
        assert code == 0, err
    a, b = (image_io.load_image(tmp_path / f"{d}.png") for d in ("float32", "bfloat16"))
    assert 0 < np.abs(a - b).mean() < 2 / 255


def test_interpolation_mask_and_colour_flags(tmp_path, weights, capsys):
    (c,) = make_images(tmp_path / "c", 1, 6, size=(24, 24))
    s1, s2 = make_images(tmp_path / "s", 2, 7)
    mask = tmp_path / "mask.png"
    m = np.zeros((24, 24), np.uint8)
    m[:, :12] = 255
    Image.fromarray(m).save(mask)
    both = f"{s1},{s2}"
    for extra, name in ((["--style-weights", "1,3"], "a.png"), (["--mask", str(mask)], "b.png"),
                        (["--preserve-color", "--alpha", "0.5"], "c.png")):
        style = str(s1) if "--preserve-color" in extra else both
        code, _, err = run(["--content", str(c), "--style", style, "--output", str(tmp_path / name),
                            *extra, *weights], capsys)
        assert code == 0, err
    # default output name for a mixture
    code, stdout, _ = run(["--content", str(c), "--style", both, "--output", str(tmp_path / "d"),
                           *weights], capsys)
    assert (tmp_path / "d" / "img0_stylized_img0+img1.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--content", "missing.jpg", "--style", "x.jpg"], "missing.jpg"),
    (["--style-weights", "1,2,3"], "3 style weights for 1 style"),
    (["--mask", "nope.png"], "mask nope.png does not exist"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, weights, capsys, args, message):
    (c,), (s,) = make_images(tmp_path / "c", 1, 8), make_images(tmp_path / "s", 1, 9)
    base = {"--content": str(c), "--style": str(s)}
    full = []
    for k, v in base.items():
        if k not in args:
            full += [k, v]
    code, _, err = run(full + args + weights, capsys)
    assert code == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_weights_and_missing_decoder(tmp_path, capsys, monkeypatch):
    (c,), (s,) = make_images(tmp_path / "c", 1, 10), make_images(tmp_path / "s", 1, 11)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    code, _, err = run(["--content", str(c), "--style", str(s), "--decoder", str(bad)], capsys)
    assert code == 2 and "bad.pth" in err and "Traceback" not in err
    monkeypatch.setattr(wts.load, "DEFAULT_DECODER", tmp_path / "absent.npz")
    code, _, err = run(["--content", str(c), "--style", str(s)], capsys)
    assert code == 2 and "--decoder" in err and "train.py" in err


def test_script_runs_as_a_subprocess(tmp_path, weights):
    (c,), (s,) = make_images(tmp_path / "c", 1, 12), make_images(tmp_path / "s", 1, 13)
    r = subprocess.run([sys.executable, str(REPO / "stylize.py"), "--content", str(c), "--style",
                        str(s), "--output", str(tmp_path / "o.png"), *weights],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.png").exists()
    r = subprocess.run([sys.executable, str(REPO / "stylize.py"), "--content", str(c), "--style",
                        str(s), "--alpha", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "alpha" in r.stderr
