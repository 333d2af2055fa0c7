"""``adain-stylize-dataset``: parse flags into a ``DatasetJob`` and run it (on every process of
a multi-host runtime when asked)."""
from __future__ import annotations

import argparse
import sys

from adain_jax.cli import common
from adain_jax.cli.train import add_multihost_flags

DOC = """Stylize a whole dataset (the Stylized-ImageNet recipe).

    adain-stylize-dataset --content SRC --styles DIR --output OUT [--seed N --alpha A]

SRC is a folder tree (mirrored under OUT: same relative paths and file names) or
tfds:NAME[/CONFIG][:SPLIT] (written as OUT/SPLIT/LABEL/NNNNNNNN.png by the class name of its
`label` ClassLabel, or OUT/SPLIT/NNNNNNNN.png without one). Each content gets a style from a
seeded hash of its relative path (SPLIT/NNNNNNNN for tfds); OUT/manifest.csv lists
content,style,alpha,output and OUT/errors.csv the contents that could not be read (skipped). Running the same command again
resumes: only missing outputs are made. Multi-host: the same command on every process with
--coordinator HOST:PORT --num-processes N --process-id I (or --tpu).

Exit status: 0 done; 1 done, but some contents could not be read or written (listed in
errors.csv); 2 bad arguments, an empty style folder, a source without images, or an output
folder holding another job's manifest (pass --overwrite to replace it).
"""


def alpha_range(text: str) -> tuple[float, float]:
    """``'0.8'`` -> (0.8, 0.8); ``'0.5,1'`` -> (0.5, 1.0) (a range, drawn per content)."""
    values = common.floats(text)
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected A or LO,HI, got {text!r}")
    return (values[0], values[-1])


def parser() -> argparse.ArgumentParser:
    from adain_jax import model
    from adain_jax.datasets import DatasetJob

    d = DatasetJob("", "", "")
    p = argparse.ArgumentParser(prog="adain-stylize-dataset", description=DOC,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", required=True, help="folder tree or tfds:NAME[/CONFIG][:SPLIT]")
    p.add_argument("--styles", required=True, help="folder of style images")
    p.add_argument("--output", required=True, help="output folder (mirrors --content)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the style/alpha assignment")
    p.add_argument("--alpha", type=alpha_range, default=d.alpha, metavar="A|LO,HI",
                   help="style strength, or a range drawn per content (default 1)")
    p.add_argument("--content-size", type=common.size, default=d.content_size,
                   help="shorter side of the contents (0 keeps it; default %(default)s)")
    p.add_argument("--style-size", type=common.size, default=d.style_size,
                   help="shorter side of the styles (0 keeps it; default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="contents per batch and process (rounded up to the local devices)")
    p.add_argument("--bucket", type=int, default=d.bucket,
                   help="shape buckets: sides rounded up to this many pixels (8: exact)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=d.dtype)
    p.add_argument("--vgg", default=None, help="VGG weights (default: shipped)")
    p.add_argument("--decoder", default=None,
                   help="decoder weights, or lite weights with --model lite (default: shipped)")
    p.add_argument("--model", choices=model.names(), default=d.model,
                   help="adain (VGG-19 encoder) or lite (the fast model)")
    p.add_argument("--workers", type=int, default=d.workers, help="reading/writing threads")
    p.add_argument("--tfds-data-dir", default=None, help="where prepared tfds datasets live")
    p.add_argument("--overwrite", action="store_true",
                   help="take over an output folder that holds another job")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_multihost_flags(p)
    return p


def main(argv=None) -> int:
    """``adain-stylize-dataset``."""
    args = parser().parse_args(argv)
    from adain_jax.datasets import DatasetJob, stylize_dataset
    from adain_jax.training import distributed

    def run() -> int:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               auto=args.tpu)
        job = DatasetJob(
            content=args.content, styles=args.styles, output=args.output, seed=args.seed,
            alpha=args.alpha, content_size=args.content_size, style_size=args.style_size,
            batch_size=args.batch_size, bucket=args.bucket, dtype=args.dtype, vgg=args.vgg,
            decoder=args.decoder, model=args.model, workers=args.workers, overwrite=args.overwrite,
            tfds_data_dir=args.tfds_data_dir)
        summary = stylize_dataset(job, progress=not args.no_progress and sys.stderr.isatty(),
                                  log=lambda m: print(m, flush=True))
        print(f"process {_pid()}: wrote {summary.written} of {summary.share} "
              f"({summary.done_before} done before) in {summary.seconds:.1f} s, "
              f"{summary.images_per_s:.2f} images/s; {len(summary.failed)} failed", flush=True)
        for rel, why in summary.failed[:10]:
            print(f"skipped {rel}: {why}", file=sys.stderr)
        return 1 if summary.failed else 0

    return common.report_errors(run)


def _pid() -> int:
    import jax

    return jax.process_index()


if __name__ == "__main__":
    sys.exit(main())
