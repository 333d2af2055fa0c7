"""``adain-train`` / ``python train.py``: parse flags into a ``TrainConfig`` and call
:func:`adain_jax.training.train`, which validates it."""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys

from adain_jax.cli import common

TRAIN_DOC = """Train an AdaIN decoder.

    python train.py --content-data DIR_OR_TFDS --style-data DIR_OR_TFDS --workdir DIR

Re-running with the same --workdir resumes from its latest checkpoint (decoder, Adam
state, step and data position). Outputs in the workdir: checkpoints/, decoder.npz (the
latest decoder, loadable with ``stylize.py --decoder``; lite.npz with ``--model lite``, loadable
with ``stylize.py --model lite --decoder``), config.json, metrics.csv, tb/
(TensorBoard), samples/step_XXXXXXX.jpg.

Multi-host: run the same command on every process with ``--coordinator HOST:PORT
--num-processes N --process-id I`` (or ``--tpu`` on a TPU pod slice / SLURM, detected);
--batch-size is global and each process loads its share of it.

Exit status: 0 done, or stopped by SIGTERM after saving a checkpoint (pre-emption safe);
130 stopped by Ctrl-C (SIGINT) after saving; 2 bad arguments/inputs (one ``error:`` line);
3 the loss became NaN/inf (nothing saved after the last good checkpoint).
"""


def add_multihost_flags(p: argparse.ArgumentParser) -> None:
    """``--coordinator HOST:PORT --num-processes N --process-id I`` and ``--tpu`` (shared with
    ``adain-stylize-dataset``)."""
    g = p.add_argument_group("multi-host (jax.distributed)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0's coordinator; the same on every process")
    g.add_argument("--num-processes", type=int, default=None, metavar="N",
                   help="number of processes taking part")
    g.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="this process's index in [0, N)")
    g.add_argument("--tpu", action="store_true",
                   help="detect the cluster (TPU pod slices, SLURM) and use every device of "
                        "every host (shortcut for jax.distributed.initialize())")


def train_parser() -> argparse.ArgumentParser:
    from adain_jax import model
    from adain_jax.nn.backends import DTYPE_CHOICES
    from adain_jax.training.config import TrainConfig

    d = TrainConfig()
    p = argparse.ArgumentParser(prog="train.py", description=TRAIN_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content-data", required=True, help="folder of content images or a TFDS name")
    p.add_argument("--style-data", required=True, help="folder of style images or a TFDS name")
    p.add_argument("--workdir", required=True, help="checkpoints, logs, samples and decoder.npz go here")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="global batch size; must divide by the number of devices")
    p.add_argument("--crop-size", type=int, default=d.crop_size)
    p.add_argument("--resize", type=int, default=d.resize, help="shorter side before cropping")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="lr / (1 + lr_decay * step)")
    p.add_argument("--style-weight", type=float, default=d.style_weight)
    p.add_argument("--dtype", choices=DTYPE_CHOICES, default=d.dtype,
                   help="compute dtype; params and optimizer state stay float32 (bfloat16: "
                        "oneDNN kernels on a bf16-capable CPU, ~1.7x faster there; auto: "
                        "bfloat16 where the hardware computes it natively)")
    p.add_argument("--model", choices=model.names(), default=d.model,
                   help="adain: the decoder for the VGG-19 encoder; lite: the fast model "
                        "(adain_jax.nn.lite: encoder and decoder, distilled from the VGG), "
                        "exported as lite.npz")
    p.add_argument("--lite-width", type=int, default=d.lite_width, help="lite: channels at 1/2")
    p.add_argument("--lite-depth", type=int, default=d.lite_depth,
                   help="lite: separable blocks per stage")
    p.add_argument("--distill-weight", type=float, default=d.distill_weight,
                   help="lite: weight of the relu4_1 distillation loss")
    p.add_argument("--vgg", default=None, help="VGG weights (default: the shipped normalised VGG)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=d.workers, help="image decoding workers per host")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--keep", type=int, default=d.keep, help="checkpoints to keep")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--sample-every", type=int, default=d.sample_every, help="0: no sample images")
    for name in ("seconds", "export_every_s", "export", "init"):   # help from the field
        f = {f.name: f for f in dataclasses.fields(TrainConfig)}[name]
        p.add_argument("--" + name.replace("_", "-"), default=f.default, help=f.metadata["help"],
                       type=float if isinstance(f.default, float) else None)
    add_multihost_flags(p)
    return p


def _interrupted(e) -> int:
    print(str(e), file=sys.stderr)
    return 0 if e.signum == signal.SIGTERM else 128 + int(e.signum)


def _diverged(e) -> int:
    print(f"error: {e}", file=sys.stderr)
    return 3


def train_main(argv=None) -> int:
    """``adain-train`` / ``python train.py``."""
    args = train_parser().parse_args(argv)
    common.prepare_runtime()
    from adain_jax.training import TrainConfig, TrainingDiverged, TrainingInterrupted, train

    config = TrainConfig(**vars(args))

    def run() -> int:
        train(config)
        return 0

    return common.report_errors(run,
                                {TrainingInterrupted: _interrupted, TrainingDiverged: _diverged})
