#!/usr/bin/env python
"""Stylize images with AdaIN: python stylize.py --content c.jpg --style s.jpg (see --help)."""
import sys

from adain_jax.cli import stylize_main

if __name__ == "__main__":
    sys.exit(stylize_main())
