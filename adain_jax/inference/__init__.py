"""Inference: stylizing arrays (:mod:`.transfer`), large images tile by tile (:mod:`.tiling`),
files and folders (:mod:`.pipeline`), the Gatys et al. optimisation reference (:mod:`.gatys`);
every user argument is checked once, in :mod:`.validate`."""
from adain_jax.inference.tiling import content_stats, should_tile, stylize_tiled
from adain_jax.inference.transfer import StyleStats, style_stats, stylize

__all__ = ["stylize", "style_stats", "StyleStats", "stylize_tiled", "content_stats",
           "should_tile"]
