"""Command-line entry points (``adain-stylize``, ``adain-train``, ``adain-export``,
``adain-demo``, ``adain-stylize-dataset``): they parse flags and call the library, nothing
else."""
from adain_jax.cli.export import export_main, export_parser
from adain_jax.cli.stylize import stylize_main, stylize_parser
from adain_jax.cli.train import train_main, train_parser


def demo_main(argv=None) -> int:
    """``adain-demo`` (imported on use: gradio loads only for the demo)."""
    from adain_jax.cli.demo import demo_main as main

    return main(argv)


def stylize_dataset_main(argv=None) -> int:
    """``adain-stylize-dataset`` (imported on use)."""
    from adain_jax.cli.stylize_dataset import main

    return main(argv)


__all__ = ["stylize_main", "stylize_parser", "train_main", "train_parser", "export_main",
           "export_parser", "demo_main", "stylize_dataset_main"]
