"""User-facing errors: each carries a one-line message; the CLIs print it and exit 2."""


class AdainError(Exception):
    """Base class for every error caused by user input (files, flags, shapes)."""


class ImageError(AdainError):
    """An image or mask file cannot be read, decoded or written."""


class WeightsError(AdainError):
    """A weight file is missing, unreadable, unsafe or has the wrong keys/shapes."""


class ConfigError(AdainError):
    """Inconsistent arguments or configuration."""
