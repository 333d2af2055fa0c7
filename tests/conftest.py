import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WEIGHTS_H5 = SHARED / "weights" / "vgg19_notop_to_block4_conv1.h5"

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads per test.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The CLIs run in-process here: no persistent compilation cache in the user's cache folder.
os.environ.setdefault("ADAIN_JAX_NO_COMPILATION_CACHE", "1")


@pytest.fixture(scope="session")
def random_params():
    import jax

    from adain_jax.nn.models import init_params

    return init_params(jax.random.PRNGKey(0))


@pytest.fixture
def xla_convs(monkeypatch):
    """Models use XLA's convolutions instead of the oneDNN custom calls (caches of traces made
    with either are cleared on the way in and out)."""
    import jax

    from adain_jax import training
    from adain_jax.nn.backends import onednn

    def clear():
        jax.clear_caches()
        training.compiled_step.cache_clear()

    clear()
    monkeypatch.setattr(onednn, "use_for", lambda dtype: False)
    yield
    clear()


def needs_shared_weights():
    return pytest.mark.skipif(not WEIGHTS_H5.exists(), reason="../shared/weights not available")


def write_ramp_images(folder, n, seed, shapes, noise=0.1):
    """``n`` PNGs ``img{i}.png`` in ``folder``: smooth colour ramps plus Gaussian noise (more
    image-like than pure noise), sizes cycling through ``shapes`` (H, W)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = shapes[i % len(shapes)]
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        base = np.stack([y, x, 1 - x * y], -1) * rng.uniform(0.3, 1.0, 3)
        img = np.clip(base + rng.normal(0, noise, (h, w, 3)), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"img{i}.png")


def write_noise_images(folder, n, seed, size=(20, 28)):
    """``n`` random RGB PNGs ``img{i}.png`` of ``size`` (H, W) in ``folder``; their paths."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, tuple(size) + (3,), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def run_stylize(args, capsys):
    """``stylize.py args`` in-process: (exit code, stdout, stderr)."""
    from adain_jax import cli

    code = cli.stylize_main(args)
    out = capsys.readouterr()
    return code, out.out, out.err
