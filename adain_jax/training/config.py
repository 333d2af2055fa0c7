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


@dataclasses.dataclass
class TrainConfig:
    content_data: str = ""
    style_data: str = ""
    workdir: str = ""
    steps: int = 160_000
    batch_size: int = 8          # global, over all devices of all hosts
    crop_size: int = 256
    resize: int = 512
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    dtype: str = "float32"       # compute dtype of encoder/decoder; params stay float32
    vgg: str | None = None       # None: the shipped normalised VGG
    model: str = "adain"         # a registered model (adain_jax.model.names(); the VGG stays the loss network)
    lite_width: int = 32         # lite only: nn.lite.LiteConfig width / depth
    lite_depth: int = 1
    distill_weight: float = 1.0  # lite only: weight of the relu4_1 distillation loss
    seed: int = 0
    workers: int = 2
    checkpoint_every: int = 1000
    keep: int = 3
    log_every: int = 100
    sample_every: int = 1000     # 0 disables sample grids
    tpu: bool = False            # multi-host with cluster auto-detection (TPU pods, SLURM)
    coordinator: str | None = None   # multi-host, explicit: HOST:PORT of process 0
    num_processes: int | None = None
    process_id: int | None = None

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
        positive = ("steps", "batch_size", "crop_size", "resize", "checkpoint_every", "keep",
                    "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, "
                                  f"got {getattr(self, name)}")
        if self.sample_every < 0 or self.workers < 0:
            raise ConfigError("--sample-every and --workers must not be negative")
        if self.crop_size % layers.DOWNSCALE:
            raise ConfigError(f"--crop-size must be a multiple of {layers.DOWNSCALE}, "
                              f"got {self.crop_size}")
        if self.crop_size > self.resize:
            raise ConfigError(f"--crop-size {self.crop_size} is larger than --resize {self.resize}")
        for name in ("lr", "lr_decay", "style_weight", "distill_weight"):
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

