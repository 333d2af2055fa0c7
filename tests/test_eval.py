"""adain_jax.eval: golden values of every metric on synthetic images made here, the face
matching on fake detections (and on a real photo when the faces venv is given), pairing, the
report and the command line."""
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from adain_jax import image_io
from adain_jax.errors import ConfigError
from adain_jax.eval import cli, faces, features, pairs, pixels, report, score

ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT = ROOT / "examples" / "content" / "astronaut.jpg"


def lines_grid(n=65, period=8):
    """1-px white lines every ``period`` px on black, both axes (a pure decoder grid)."""
    y, x = np.mgrid[:n, :n]
    g = ((x % period == 0) | (y % period == 0)).astype(np.float32)
    return np.repeat(g[..., None], 3, axis=2)


def smooth(shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    small = rng.uniform(size=(shape[0] // 8, shape[1] // 8, 3)).astype(np.float32)
    return image_io.resize_float(small, shape, image_io.resample.BILINEAR)


# ------------------------------------------------------------------------- pixel metrics
def test_pure_8px_grid_scores_high_on_grid_and_one_on_checkerboard():
    img = lines_grid()
    # 56 of the 65 rows cross each vertical line: two of the 8 phases hold 56/65, six hold 0
    expected = (56 / 65 + pixels.PHASE_EPS) / pixels.PHASE_EPS
    assert pixels.grid_score(img) == pytest.approx(expected, rel=1e-9)
    assert pixels.grid_score(img) > 1000
    assert pixels.checkerboard_score(img) == pytest.approx(1.0, abs=1e-12)


def test_flat_and_smooth_images_have_no_grid():
    assert pixels.grid_score(np.full((32, 32, 3), 0.5, np.float32)) == 1.0
    assert pixels.checkerboard_score(np.full((32, 32, 3), 0.5, np.float32)) == 1.0
    assert pixels.grid_score(smooth((128, 128))) < 1.5


def test_two_px_pattern_scores_high_on_checkerboard():
    x = np.arange(64)
    g = np.tile(((x // 2) % 2).astype(np.float32), (64, 1))   # 0 0 1 1 0 0 1 1 along x
    img = np.repeat((g * g.T)[..., None], 3, axis=2)
    assert pixels.checkerboard_score(img) > 100


def test_laplacian_energy_of_known_patterns():
    y, x = np.mgrid[:16, :16]
    checker = ((x + y) % 2).astype(np.float32)
    assert pixels.laplacian_energy(checker) == pytest.approx(4.0)       # |4g - 4(1 - g)|
    assert pixels.laplacian_energy(0.5 * checker) == pytest.approx(2.0)
    ramp = np.stack([x / 15.0] * 3, axis=-1).astype(np.float32)
    assert pixels.laplacian_energy(ramp) == pytest.approx(0.0, abs=1e-6)
    c3 = np.repeat(checker[..., None], 3, axis=2)
    assert pixels.noise_ratio(0.5 * c3, c3) == pytest.approx(0.5)
    assert pixels.noise_ratio(c3, c3) == pytest.approx(1.0)


def test_cover_crop_keeps_aspect_and_size():
    img = smooth((40, 80))
    out = pixels.cover_crop(img, (40, 40))
    assert out.shape == (40, 40, 3)
    np.testing.assert_allclose(out, img[:, 20:60], atol=1e-6)


def test_colourfulness_golden_values():
    assert pixels.colourfulness(np.full((8, 8, 3), 0.3, np.float32)) == pytest.approx(0.0)
    img = np.zeros((4, 4, 3), np.float32)
    img[:2, :, 0] = 1.0      # half red (255, 0, 0): rg 255, yb 127.5
    img[2:, :, 2] = 1.0      # half blue (0, 0, 255): rg 0, yb -255
    # rg: mean 127.5, std 127.5; yb: mean -63.75, std 191.25
    hand = math.sqrt(127.5 ** 2 + 191.25 ** 2) + 0.3 * math.sqrt(127.5 ** 2 + 63.75 ** 2)
    assert pixels.colourfulness(img) == pytest.approx(hand, rel=1e-9)
    assert hand == pytest.approx(272.619, abs=1e-3)


# ------------------------------------------------------------------------- VGG metrics
@pytest.fixture(scope="module")
def vgg():
    from adain_jax.weights import load_vgg

    return load_vgg(None)


def test_identity_scores_style_one_content_zero(vgg):
    content, style = smooth((64, 64), 1), smooth((64, 96), 2)
    c = features.summarise(vgg, content)
    s = features.summarise(vgg, style, maps=False)
    m = features.vgg_metrics(c, c, s)
    assert m["style"] == pytest.approx(1.0) and m["gram"] == pytest.approx(1.0)
    assert m["content"] == 0.0 and m["content_rel"] == 0.0 and m["cfsd"] == 0.0
    # the painting itself (at the style's size) is 0 on both style ratios
    own = features.style_ratios(features.summarise(vgg, style), c, s)
    assert own["style"] == pytest.approx(0.0, abs=1e-12) and own["gram"] == pytest.approx(0.0, abs=1e-12)


def _cfsd_reference(a, b):
    """Full-matrix float64 CFSD (no blocks, no reformulation)."""
    c = a.shape[-1]
    fa, fb = (x.reshape(-1, c).astype(np.float64) / c for x in (a, b))

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    lp, lq = log_softmax(fa @ fa.T), log_softmax(fb @ fb.T)
    return float(np.sum(np.exp(lp) * (lp - lq)))


def test_cfsd_matches_a_full_matrix_reference_and_is_zero_for_identical_maps():
    rng = np.random.default_rng(3)
    a = (rng.gamma(1.0, 4.0, size=(9, 7, 16))).astype(np.float32)
    b = a + rng.gamma(1.0, 4.0, size=a.shape).astype(np.float32)
    assert features.cfsd(a, a, block=5) == 0.0
    assert features.cfsd(a, b, block=5) == pytest.approx(_cfsd_reference(a, b), rel=1e-4)
    assert features.cfsd(a, b, block=5) == pytest.approx(features.cfsd(a, b, block=1000),
                                                         rel=1e-6)


def test_cfsd_matches_styleid_torch_code():
    """The same computation as StyleID's PatchSimi (NCHW, transpose(1, 3), kl_div batchmean)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    a = rng.gamma(1.0, 4.0, size=(6, 5, 8)).astype(np.float32)
    b = rng.gamma(1.0, 4.0, size=a.shape).astype(np.float32)

    def simi(x, log):
        t = torch.from_numpy(x).permute(2, 0, 1)[None].double()   # NCHW
        bb, c, h, w = t.shape
        f = torch.transpose(t, 1, 3).reshape(bb, h * w, c).div(c)
        s = torch.bmm(f, torch.transpose(f, 1, 2))
        return (F.log_softmax(s, dim=-1) if log else F.softmax(s, dim=-1)).reshape(bb, -1)

    # metric(stylized, content): log-probabilities from the output, targets from the content
    ref = F.kl_div(simi(b, True), simi(a, False), reduction="batchmean").item()
    assert features.cfsd(a, b) == pytest.approx(ref, rel=1e-4)


# ------------------------------------------------------------------------- faces (numpy part)
def fake_faces(boxes, probs, shift=(0.0, 0.0)):
    boxes = np.asarray(boxes, np.float64)
    marks = []
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        pts = [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]
        marks.append([(x1 + u * w + shift[0], y1 + v * h + shift[1]) for u, v in pts])
    return faces.Faces(boxes.reshape(-1, 4), np.asarray(probs, np.float64), np.asarray(marks).reshape(-1, 5, 2))


def test_face_matching_identity_shift_and_thresholds():
    content = fake_faces([[10, 10, 110, 110], [200, 10, 300, 110]], [0.999, 0.99])
    m = faces.match(content, content)
    assert m["faces"] == 2 and m["kept"] == 2 and m["nme"] == [0.0, 0.0]
    # landmarks 4 px right: inter-ocular distance 40 px -> NME 0.1
    shifted = fake_faces([[10, 10, 110, 110], [200, 10, 300, 110]], [0.95, 0.95], shift=(4, 0))
    assert faces.match(content, shifted)["nme"] == pytest.approx([0.1, 0.1])
    assert faces.match(content, fake_faces([[10, 10, 110, 110]], [0.85]))["kept"] == 0  # p < 0.9
    far = fake_faces([[60, 60, 160, 160]], [0.99])   # IoU 50*50 / (2*100*100 - 2500) = 0.14
    assert faces.match(content, far)["kept"] == 0
    assert faces.match(content, fake_faces([], []))["kept"] == 0


def test_content_faces_thresholds_and_size_mapping():
    found = fake_faces([[0, 0, 100, 100], [0, 0, 30, 100], [0, 0, 100, 100]], [0.99, 0.99, 0.97])
    kept = faces.content_faces(found)
    assert len(kept.boxes) == 1                        # too small, too unsure dropped
    half = faces.Faces(kept.boxes / 2, kept.probs, kept.landmarks / 2)
    m = faces.match_sized(kept, (200, 200), half, (100, 100))
    assert m["kept"] == 1 and m["nme"] == [pytest.approx(0.0)]
    s = faces.summarise_faces([{"faces": 2, "kept": 1, "nme": [0.2]}, {"faces": 2, "kept": 2, "nme": [0.1, 0.3]}])
    assert s["faces_kept"] == pytest.approx(0.75) and s["nme"] == pytest.approx(0.2)


def test_detector_without_interpreter_says_why(monkeypatch):
    monkeypatch.delenv(faces.ENV_PYTHON, raising=False)
    d = faces.Detector(None)
    assert not d.available and "--faces-python" in d.reason
    bad = faces.Detector("/nonexistent/python")
    assert not bad.available and "/nonexistent/python" in bad.reason
    with pytest.raises(ConfigError):
        bad.detect([np.zeros((8, 8, 3), np.float32)])


@pytest.mark.skipif(not os.environ.get(faces.ENV_PYTHON),
                    reason=f"no faces venv: set ${faces.ENV_PYTHON} to a python with facenet-pytorch")
def test_face_photo_against_itself_keeps_all_faces_at_nme_zero(tmp_path):
    d = faces.Detector(os.environ[faces.ENV_PYTHON], threads=1)
    assert d.available, d.reason
    img = image_io.load_image(ASTRONAUT)
    found = faces.content_faces(d.detect([img])[0])
    assert len(found.boxes) >= 1
    res = score.evaluate([pairs.Pair("identity", ASTRONAUT, ASTRONAUT, ASTRONAUT)],
                         score.Scorer(style_size=0), d)
    row = res["rows"][0]
    assert row["faces"] == len(found.boxes) and row["kept"] == row["faces"]
    assert row["nme"] == 0.0
    assert res["summary"]["identity"]["faces_kept"] == 1.0


# ------------------------------------------------------------------------- pairs, report, CLI
def write_images(folder: Path, names, shape=(48, 64), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, n in enumerate(names):
        p = folder / n
        image_io.save_image(p, smooth(shape, seed + i))
        out.append(p)
    return out


def test_folder_convention_and_manifest(tmp_path):
    write_images(tmp_path / "c", ["cat.png", "dog.png"])
    write_images(tmp_path / "s", ["starry.png"], seed=5)
    m = tmp_path / "m"
    write_images(m, [pairs.output_name("cat", "starry"), pairs.output_name("dog", "starry")])
    (m / "timing.json").write_text(json.dumps({"seconds_per_pair": 0.5, "dog__starry.png": 2}))
    found = pairs.from_folders(tmp_path / "c", tmp_path / "s", {"ours": m})
    assert sorted((p.key, p.seconds) for p in found) == [("cat__starry", 0.5), ("dog__starry", 2.0)]
    csv = tmp_path / "pairs.csv"
    csv.write_text("content,style,output,method,seconds\nc/cat.png,s/starry.png,m/cat__starry.png,x,1.5\n")
    (p,) = pairs.read_manifest(csv)
    assert p.content == tmp_path / "c" / "cat.png" and p.method == "x" and p.seconds == 1.5
    write_images(m, ["stray.png"])
    with pytest.raises(ConfigError, match="stray"):
        pairs.from_folders(tmp_path / "c", tmp_path / "s", {"ours": m})
    bad = tmp_path / "bad.csv"
    bad.write_text("content,output\na,b\n")
    with pytest.raises(ConfigError, match="header"):
        pairs.read_manifest(bad)


def test_cli_end_to_end_identity_and_painting(tmp_path, capsys):
    (content,) = write_images(tmp_path / "c", ["cat.png"])
    (style,) = write_images(tmp_path / "s", ["starry.png"], shape=(64, 64), seed=7)
    ident = tmp_path / "identity"
    ident.mkdir()
    image_io.save_image(ident / "cat__starry.png", image_io.load_image(content))
    rc = cli.main(["--content", str(tmp_path / "c"), "--style", str(tmp_path / "s"),
                   "--method", f"identity={ident}", "--out", str(tmp_path / "out"),
                   "--style-size", "0", "--quiet"])
    assert rc == 0
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    row = data["rows"][0]
    assert row["style"] == pytest.approx(1.0) and row["content"] == 0.0 and row["cfsd"] == 0.0
    assert data["faces"]["available"] is False
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| identity |" in md and "## Definitions" in md
    assert (tmp_path / "out" / "grid.jpg").exists()
    assert cli.main(["--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err


def test_markdown_formats_missing_values():
    res = {"rows": [], "summary": {"m": {"n": 0, "style": None, "grid": float("nan")}},
           "faces": {"available": False, "reason": "not requested"}}
    text = report.markdown(res)
    assert "| m | 0 | - |" in text and "not requested" in text


def test_eval_report_tool_pairs_and_a_tiny_run(tmp_path):
    from tools.release import eval_report

    cs = [Path(f"c{i}.jpg") for i in range(3)]
    ss = [Path(f"s{i}.jpg") for i in range(2)]
    chosen = eval_report.pick_pairs(cs, ss, 6)
    assert len(set(chosen)) == 6 and chosen == eval_report.pick_pairs(cs, ss, 6)
    write_images(tmp_path / "c", ["cat.png"], shape=(64, 64))
    write_images(tmp_path / "s", ["starry.png"], shape=(64, 64), seed=3)
    rc = eval_report.main(["--contents", str(tmp_path / "c"), "--styles", str(tmp_path / "s"),
                           "--pairs", "1", "--size", "0", "--style-size", "0", "--methods", "ours",
                           "--work", str(tmp_path / "w"), "--out", str(tmp_path / "out"), "--grid"])
    assert rc == 0
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    (row,) = data["rows"]
    assert row["method"] == "ours" and row["output_file"] == "cat__starry.png"
    assert row["seconds"] > 0 and math.isfinite(row["style"]) and row["style"] > 0
    assert (tmp_path / "out" / "report_grid.jpg").exists()
