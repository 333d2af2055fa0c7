#!/usr/bin/env python
"""Train an AdaIN decoder: python train.py --content-data DIR --style-data DIR --workdir DIR (see --help)."""
import sys

from adain_jax.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
