"""Upload and size limits of the web demo, in one place."""
from __future__ import annotations

from dataclasses import dataclass

from adain_jax.errors import ConfigError


@dataclass(frozen=True)
class Limits:
    """What the demo accepts.

    Attributes:
      max_bytes: largest uploaded file (also gradio's ``max_file_size``, enforced while
        receiving).
      max_pixels: largest uploaded image (width * height, read from its header before decoding).
      max_size: largest working size (shorter side in pixels) a caller may ask for.
      default_size: working size of the page's size slider.
    """

    max_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_size: int = 1024
    default_size: int = 512

    def __post_init__(self):
        if min(self.max_bytes, self.max_pixels, self.max_size, self.default_size) <= 0:
            raise ConfigError("demo limits must be positive")
        if self.default_size > self.max_size:
            raise ConfigError(f"default size {self.default_size} is over the largest size "
                              f"{self.max_size}")

    def size(self, value) -> int:
        """A requested working size, checked against ``max_size`` (None: the default)."""
        if value is None:
            return self.default_size
        try:
            size = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"size must be an integer, got {value!r}") from None
        if not 16 <= size <= self.max_size:
            raise ConfigError(f"size must be between 16 and {self.max_size} pixels, got {size}")
        return size
