"""Training configuration: the flags of ``train.py`` as one dataclass, checked once, and the
architecture record a resumed run must match."""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping

import jax

from adain_jax.errors import ConfigError
from adain_jax.inference import validate
from adain_jax.model import lite as lite_model, registry
from adain_jax.nn import backends, layers, lite, models


def _field(default, help: str, **cli):
    """A config field with its flag's help text (and ``cli`` hints: ``choices``, ``metavar``,
    ``required``, ``group``) in its metadata, from which ``adain_jax.cli.flags`` makes the flag."""
    return dataclasses.field(default=default, metadata={"help": help, **cli})


_MULTIHOST = "multi-host (jax.distributed)"


@dataclasses.dataclass
class TrainConfig:
    """One training run; every field is a flag of ``train.py`` (``--content-data`` for
    ``content_data``)."""

    content_data: str = _field("", "folder of content images, a TFDS name, or an image pack "
                               "(.npz of tools.device.pack_training_data, sampled on the device)",
                               required=True)
    style_data: str = _field("", "folder of style images, a TFDS name, or an image pack",
                             required=True)
    workdir: str = _field("", "checkpoints, logs, samples and decoder.npz go here", required=True)
    steps: int = _field(160_000, "number of training steps")
    batch_size: int = _field(8, "global batch size; must divide by the number of devices")
    crop_size: int = _field(256, "training crop size")
    resize: int = _field(512, "shorter side before cropping")
    lr: float = _field(1e-4, "Adam learning rate")
    lr_decay: float = _field(5e-5, "lr / (1 + lr_decay * step)")
    style_weight: float = _field(10.0, "weight of the style loss")
    dtype: str = _field("float32", "compute dtype; params and optimizer state stay float32 "
                        "(bfloat16: oneDNN kernels on a bf16-capable CPU, ~1.7x faster there; "
                        "auto: bfloat16 where the hardware computes it natively)",
                        choices=backends.DTYPE_CHOICES)
    vgg: str | None = _field(None, "VGG weights (default: the shipped normalised VGG)")
    model: str = _field("adain", "adain: the decoder for the VGG-19 encoder; lite: the fast "
                        "model (adain_jax.nn.lite: encoder and decoder, distilled from the VGG), "
                        "exported as lite.npz", choices=registry.names())
    lite_width: int = _field(32, "lite: channels at 1/2")
    lite_depth: int = _field(1, "lite: separable blocks per stage")
    distill_weight: float = _field(1.0, "lite: weight of the relu4_1 distillation loss")
    seed: int = _field(0, "seed of the init and the data order")
    workers: int = _field(2, "image decoding workers per host")
    checkpoint_every: int = _field(1000, "steps between checkpoints (0: none; the weights are "
                                   "still exported at the end)")
    keep: int = _field(3, "checkpoints to keep")
    log_every: int = _field(100, "steps between log lines")
    sample_every: int = _field(1000, "steps between sample images (0: none)")
    seconds: float = _field(0.0, "time budget: stop after this many seconds of train() and "
                            "export (0: no limit)")
    export_every_s: float = _field(0.0, "also export the weights every this many seconds "
                                   "(0: with each checkpoint only)")
    export: str | None = _field(None, "where the weights are exported (default: "
                                "<workdir>/decoder.npz, lite.npz for the lite model)")
    init: str | None = _field(None, "warm-start from these weights (a decoder file; a lite "
                              "file for the lite model); Adam starts afresh; ignored on resume")
    tpu: bool = _field(False, "detect the cluster (TPU pod slices, SLURM) and use every device "
                       "of every host (shortcut for jax.distributed.initialize())",
                       group=_MULTIHOST)
    coordinator: str | None = _field(None, "address of process 0's coordinator; the same on "
                                     "every process", metavar="HOST:PORT", group=_MULTIHOST)
    num_processes: int | None = _field(None, "number of processes taking part", metavar="N",
                                       group=_MULTIHOST)
    process_id: int | None = _field(None, "this process's index in [0, N)", metavar="I",
                                    group=_MULTIHOST)

    def validate(self) -> None:
        if not self.workdir:
            raise ConfigError("a --workdir is required")
        if self.dtype not in backends.DTYPE_CHOICES:  # 'auto' is resolved once jax runs
            raise ConfigError(f"dtype must be one of {', '.join(backends.DTYPE_CHOICES)}, "
                              f"not {self.dtype!r}")
        registry.get(self.model)
        if self.model == lite_model.NAME and not (1 <= int(self.lite_width) <= lite.MAX_WIDTH
                                         and 1 <= int(self.lite_depth) <= lite.MAX_DEPTH):
            raise ConfigError(f"--lite-width must be in 1..{lite.MAX_WIDTH} and --lite-depth in "
                              f"1..{lite.MAX_DEPTH}, got {self.lite_width} and {self.lite_depth}")
        validate.distributed(self.coordinator, self.num_processes, self.process_id, self.tpu)
        positive = ("steps", "batch_size", "crop_size", "resize", "keep", "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, "
                                  f"got {getattr(self, name)}")
        if self.sample_every < 0 or self.workers < 0 or self.checkpoint_every < 0:
            raise ConfigError("--sample-every, --workers and --checkpoint-every must not be "
                              "negative")
        if self.crop_size % layers.DOWNSCALE:
            raise ConfigError(f"--crop-size must be a multiple of {layers.DOWNSCALE}, "
                              f"got {self.crop_size}")
        if self.crop_size > self.resize:
            raise ConfigError(f"--crop-size {self.crop_size} is larger than --resize {self.resize}")
        for name in ("lr", "lr_decay", "style_weight", "distill_weight", "seconds",
                     "export_every_s"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite "
                                  f"{'positive' if name == 'lr' else 'non-negative'} number, got {v}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def lite_config(self) -> lite.LiteConfig | None:
        """The lite variant trained, or None for the main model."""
        if self.model != lite_model.NAME:
            return None
        return lite.LiteConfig(int(self.lite_width), int(self.lite_depth))


def architecture(config: TrainConfig | None = None) -> dict:
    """What a checkpoint's params must match (JSON-comparable)."""
    lite_config = config.lite_config() if config is not None else None
    if lite_config is not None:
        return {"model": lite_model.NAME, "encoder": [list(r) for r in lite.encoder_table(lite_config)],
                "decoder": [list(r) for r in lite.decoder_table(lite_config)],
                "features": lite_config.channels, "optimizer": "adam"}
    return {
        "encoder": [list(x) for x in models.ENCODER_LAYERS],
        "decoder": [list(x) for x in models.DECODER_LAYERS],
        "decoder_shapes": {k: list(v) for k, v in sorted(models.expected_shapes("decoder").items())},
        "optimizer": "adam",
    }


def stored_config(config: TrainConfig) -> dict:
    return {"train": config.to_json(), "arch": architecture(config),
            "process_count": jax.process_count(), "device_count": jax.device_count()}


# These change the trajectory of a resumed run (a warning is printed when they differ).
_TRAJECTORY_FIELDS = ("model", "distill_weight", "batch_size", "crop_size", "resize", "lr", "lr_decay", "style_weight",
                      "dtype", "vgg", "seed", "content_data", "style_data")


def check_compatible(stored: Mapping, current: Mapping, where: str) -> list[str]:
    """Raise ConfigError if the checkpoint's architecture differs; return warnings."""
    if not isinstance(stored, Mapping):
        raise ConfigError(f"{where} holds a checkpoint with a malformed config record; "
                          "use a new --workdir")
    arch_s, arch_c = stored.get("arch"), current["arch"]
    if arch_s != arch_c:
        if not isinstance(arch_s, Mapping):
            detail = "it has no architecture record"
        else:
            diffs = [k for k in sorted(set(arch_s) | set(arch_c)) if arch_s.get(k) != arch_c.get(k)]
            detail = "different " + ", ".join(diffs)
            if "decoder_shapes" in diffs and isinstance(arch_s.get("decoder_shapes"), Mapping):
                ds, dc = arch_s["decoder_shapes"], arch_c["decoder_shapes"]
                bad = [k for k in sorted(set(ds) | set(dc)) if ds.get(k) != dc.get(k)][:3]
                detail += " (" + "; ".join(f"{k}: {ds.get(k)} vs {dc.get(k)}" for k in bad) + ")"
        raise ConfigError(f"{where} holds a checkpoint of an incompatible model ({detail}); "
                          "use a new --workdir")
    old, new = stored.get("train", {}), current["train"]
    if not isinstance(old, Mapping):
        old = {}
    return [f"{k} was {old.get(k)!r} in the checkpoint, now {new.get(k)!r}"
            for k in _TRAJECTORY_FIELDS if k in old and old.get(k) != new.get(k)]

