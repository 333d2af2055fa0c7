"""``python -m adain_jax.eval``: the ``adain-eval`` command."""
import sys

from adain_jax.eval.cli import main

sys.exit(main())
