import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WEIGHTS_H5 = SHARED / "weights" / "vgg19_notop_to_block4_conv1.h5"

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads per test.
os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="session")
def random_params():
    import jax

    from adain_jax.models import init_params

    return init_params(jax.random.PRNGKey(0))


def needs_shared_weights():
    return pytest.mark.skipif(not WEIGHTS_H5.exists(), reason="../shared/weights not available")
