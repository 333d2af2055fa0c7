"""The multi-host path for real: 2 processes on 127.0.0.1 (jax.distributed, gloo CPU
collectives), each with 2 fake CPU devices, for the dataset job and for training."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import adain_jax  # noqa: F401
import jax
from adain_jax import image_io
from adain_jax.datasets import DatasetJob, manifest, plan, stylize_dataset
from conftest import write_ramp_images

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(devices: int) -> dict:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if "device_count" not in f] + [f"--xla_force_host_platform_device_count={devices}"]
    return dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags))


def run_all(commands: list[list[str]], devices: int, timeout: int = 400,
            ok=(0,)) -> list[tuple[int, str]]:
    """Start every command at once (one per process), wait for all; (exit code, output)."""
    procs = [subprocess.Popen(c, env=env(devices), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in commands]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outs):
        assert p.returncode in ok, out[-4000:]
    return [(p.returncode, out) for p, out in zip(procs, outs)]


def multihost(port: int, pid: int, n: int = 2) -> list[str]:
    return ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(n),
            "--process-id", str(pid)]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from adain_jax.nn.models import init_params
    from adain_jax.weights import save_params

    params = init_params(jax.random.PRNGKey(0))
    return save_params(tmp_path_factory.mktemp("w") / "w.npz", params), params


def test_dataset_two_processes_two_devices_each(tmp_path, weights):
    path, params = weights
    write_ramp_images(tmp_path / "src" / "a", 9, 0, [(24, 32), (32, 24), (40, 40)])
    write_ramp_images(tmp_path / "src" / "b", 6, 1, [(24, 36), (30, 30)])
    (tmp_path / "src" / "b" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    write_ramp_images(tmp_path / "styles", 3, 2, [(32, 32)])
    args = ["--content", str(tmp_path / "src"), "--styles", str(tmp_path / "styles"),
            "--output", str(tmp_path / "out"), "--vgg", str(path), "--decoder", str(path),
            "--content-size", "0", "--style-size", "0", "--bucket", "8", "--batch-size", "2",
            "--alpha", "0.5,1", "--seed", "3", "--no-progress"]
    port = free_port()
    cmd = [sys.executable, "-m", "adain_jax.cli.stylize_dataset", *args]
    results = run_all([cmd + multihost(port, i) for i in range(2)], devices=2, ok=(0, 1))
    # exit 1 = done, with an unreadable content: only for the process that owns it
    owner = plan.owner("b/broken.jpg", 2)
    assert [code for code, _ in results] == [int(i == owner) for i in range(2)]
    assert "2 process(es) x 2 device(s)" in results[0][1]
    # one process, one device, in this process: the reference
    stylize_dataset(DatasetJob(str(tmp_path / "src"), str(tmp_path / "styles"),
                               str(tmp_path / "ref"), seed=3, alpha=(0.5, 1.0), content_size=0,
                               style_size=0, bucket=8, batch_size=2), params, log=lambda m: None)
    out = tmp_path / "out"
    assert manifest.read(out) == manifest.read(tmp_path / "ref")          # complete, identical
    assert (out / "errors.csv").read_text() == (tmp_path / "ref" / "errors.csv").read_text()
    # each process wrote exactly its own share (per-process parts), nothing twice
    for pid in range(2):
        part = manifest._read_rows(manifest.part_path(out, "manifest", pid, 2))
        assert part and all(plan.owner(r[0], 2) == pid for r in part)
    for content, _, _ in manifest.read(out):   # 2 devices per process (XLA) vs oneDNN/XLA 1
        a, b = (image_io.load_image(o / content) for o in (out, tmp_path / "ref"))
        assert np.abs(a - b).max() <= 2 / 255


TRAIN = textwrap.dedent('''
    import sys
    import numpy as np
    import adain_jax
    from adain_jax.training import TrainConfig, train

    workdir, steps, vgg, pid, n, port = sys.argv[1:7]
    pid, n, steps = int(pid), int(n), int(steps)

    class Loader:
        """Global batch i depends only on i; this process gets its rows of it."""
        def __init__(self):
            self.i = 0
        def __iter__(self):
            return self
        def __next__(self):
            rng = np.random.default_rng([0, self.i])
            rows = slice(pid * 4 // n, (pid + 1) * 4 // n)
            self.i += 1
            return {k: rng.random((4, 16, 16, 3), dtype=np.float32)[rows]
                    for k in ("content", "style")}
        def get_state(self):
            return {"i": self.i}
        def set_state(self, state):
            self.i = int(state["i"])

    hosts = dict(coordinator=f"127.0.0.1:{port}", num_processes=n, process_id=pid) if n > 1 else {}
    cfg = TrainConfig(workdir=workdir, steps=steps, batch_size=4, crop_size=16, resize=16,
                      lr=1e-4, log_every=1, checkpoint_every=1, sample_every=0, keep=5, vgg=vgg,
                      **hosts)
    train(cfg, loader=Loader(), verbose=(pid == 0))
    import jax
    print("process", jax.process_index(), "of", jax.process_count(), "devices",
          jax.device_count(), "local", jax.local_device_count())
''')


def losses(workdir: Path) -> np.ndarray:
    rows = (workdir / "metrics.csv").read_text().splitlines()[1:]
    return np.array([[float(x) for x in r.split(",")[:4]] for r in rows])


def test_training_two_processes_match_four_devices_and_resume(tmp_path, weights):
    """2 processes x 2 devices train the same steps (same losses) as 1 process x 4 devices on
    the same global batch; both processes checkpoint, and a rerun resumes from the checkpoint."""
    from adain_jax.weights import save_params

    vgg = save_params(tmp_path / "vgg.npz", {"vgg": weights[1]["vgg"]})
    code = [sys.executable, "-c", TRAIN]
    wd2, wd4 = tmp_path / "two_hosts", tmp_path / "one_host"
    four = subprocess.Popen(code + [str(wd4), "3", str(vgg), "0", "1", "0"], env=env(4),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = free_port()
    first = run_all([code + [str(wd2), "2", str(vgg), str(i), "2", str(port)] for i in range(2)],
                    devices=2)
    assert "process 1 of 2 devices 4 local 2" in first[1][1]
    assert sorted(p.name for p in (wd2 / "checkpoints").iterdir() if p.name.isdigit()) == ["1", "2"]
    port = free_port()
    second = run_all([code + [str(wd2), "3", str(vgg), str(i), "2", str(port)] for i in range(2)],
                     devices=2)
    assert "resuming from" in second[0][1] and "at step 2" in second[0][1]
    out4 = four.communicate(timeout=400)[0]
    assert four.returncode == 0, out4[-4000:]
    l2, l4 = losses(wd2), losses(wd4)
    assert l2[:, 0].tolist() == [1, 2, 3] and l4[:, 0].tolist() == [1, 2, 3]
    np.testing.assert_allclose(l2[:, 1:], l4[:, 1:], rtol=1e-5)
    assert (wd2 / "decoder.npz").is_file()


def test_multihost_flags_checked_in_one_line(tmp_path, capsys):
    from adain_jax.cli import stylize_dataset, train_main
    from adain_jax.errors import ConfigError
    from adain_jax.training import distributed

    base = ["--content-data", str(tmp_path), "--style-data", str(tmp_path), "--workdir",
            str(tmp_path / "wd")]
    for flags, message in [
            (["--coordinator", "localhost"], "--coordinator must be HOST:PORT"),
            (["--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "2"],
             "--process-id must be in [0, 2)"),
            (["--coordinator", "127.0.0.1:9"], "go together")]:
        assert train_main(base + flags) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert stylize_dataset.main(["--content", "a", "--styles", "b", "--output", "c",
                                 "--num-processes", "0"]) == 2
    assert "--num-processes must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "wd").exists()
    # --tpu (cluster auto-detection) where there is no cluster: one line, not a traceback
    with pytest.raises(ConfigError, match=r"--tpu .*initialize\(\) failed"):
        distributed.initialize(auto=True)
    assert distributed.initialize() is False          # nothing asked: single process
