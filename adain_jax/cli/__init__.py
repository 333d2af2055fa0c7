"""Command-line entry points (``adain-stylize``, ``adain-train``): they parse flags and call
the library, nothing else."""
from adain_jax.cli.stylize import stylize_main, stylize_parser
from adain_jax.cli.train import train_main, train_parser

__all__ = ["stylize_main", "stylize_parser", "train_main", "train_parser"]
