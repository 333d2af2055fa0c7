"""What every command-line entry point shares: flag types and the one place that turns
errors into exit codes.

Exit codes: 0 all done; 1 some outputs failed (each reported, the others written); 2 a usage or
input error (one ``error:`` line on stderr, nothing written); 130 interrupted.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Callable

from adain_jax.errors import AdainError


def floats(text: str) -> list[float]:
    """``'1,2.5'`` -> [1.0, 2.5] (finite numbers only)."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def size(text: str) -> int:
    """A non-negative integer (0 keeps the original size)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0 keeps the original size)")
    return v


def split(text: str) -> list[str]:
    """``'a.jpg,b.jpg'`` -> ['a.jpg', 'b.jpg'] (empty items dropped)."""
    return [t for t in text.split(",") if t]


def prepare_runtime(compilation_cache: bool = True) -> None:
    """What every entry point does before jax starts: the XLA:CPU flag where it helps
    (jaxlib 0.10.x) and, unless disabled, the persistent compilation cache."""
    from adain_jax.nn.backends import xla_flags

    xla_flags.configure()
    if compilation_cache:
        xla_flags.enable_compilation_cache()


def note_backend(quiet: bool = False) -> None:
    """Says once, on stderr, which backend runs the convolutions when the fast CPU path is
    missing on a CPU that could use it."""
    from adain_jax.nn import backends

    line = backends.missing_fast_path()
    if line and not quiet:
        print(line, file=sys.stderr)


def report_errors(fn: Callable[[], int], handlers: dict | None = None) -> int:
    """Runs ``fn``; an :class:`AdainError` becomes one ``error:`` line and exit 2, Ctrl-C exit
    130. ``handlers`` maps further exception types to functions returning an exit code."""
    try:
        return fn()
    except tuple(handlers or ()) as e:
        for kind, handle in handlers.items():
            if isinstance(e, kind):
                return handle(e)
        raise
    except AdainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
