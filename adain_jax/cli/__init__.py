"""Command-line entry points (``adain-stylize``, ``adain-train``,
``adain-stylize-dataset``): they parse flags and call
the library, nothing else."""
from adain_jax.cli.stylize import stylize_main, stylize_parser
from adain_jax.cli.train import train_main, train_parser


def stylize_dataset_main(argv=None) -> int:
    """``adain-stylize-dataset`` (imported on use)."""
    from adain_jax.cli.stylize_dataset import main

    return main(argv)


__all__ = ["stylize_main", "stylize_parser", "train_main", "train_parser", "stylize_dataset_main"]
