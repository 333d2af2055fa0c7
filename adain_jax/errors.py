"""User-facing errors and the one formatter for their messages.

Every error caused by user input (files, flags, shapes) is an :class:`AdainError` with a
one-line message; the CLIs print it as ``error: ...`` and exit 2.
"""
from __future__ import annotations


class AdainError(Exception):
    """Base class for every error caused by user input (files, flags, shapes)."""


class ImageError(AdainError):
    """An image or mask file cannot be read, decoded or written."""


class WeightsError(AdainError):
    """A weight file is missing, unreadable, unsafe or has the wrong keys/shapes."""


class ConfigError(AdainError):
    """Inconsistent arguments or configuration."""


def one_line(exc: BaseException, limit: int = 200, with_type: bool = False) -> str:
    """``exc``'s message on one line (white space folded), at most ``limit`` characters;
    the exception's type name when it has no message (and before it with ``with_type``)."""
    text = " ".join(str(exc).split())
    if with_type or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
