"""Training the decoder: configuration (:mod:`.config`), the jit-compiled data-parallel step
(:mod:`.step`), the loop (:mod:`.loop`), input (:mod:`.sources`, :mod:`.data`), orbax
checkpoints (:mod:`.checkpoint`) and logging (:mod:`.metrics`).

Importing this package pulls in optax and orbax; the input pipeline (grain, tfds) loads when a
loader is made.
"""
from adain_jax.training.checkpoint import Checkpoints, abstract_like, export_decoder
from adain_jax.training.config import TrainConfig, architecture, check_compatible, stored_config
from adain_jax.training.loop import TrainingDiverged, TrainingInterrupted, make_loader, train
from adain_jax.training.step import (TrainState, compiled_step, global_batch, init_state, loss_fn,
                                     lr_at, lr_schedule, make_mesh, make_optimizer, new_state,
                                     replicate, train_step)
from adain_jax.nn.backends import DTYPES

__all__ = [
    "TrainConfig", "TrainState", "TrainingInterrupted", "TrainingDiverged", "train", "train_step",
    "loss_fn", "make_optimizer", "lr_schedule", "lr_at", "compiled_step", "make_mesh",
    "init_state", "new_state", "replicate", "global_batch", "check_compatible", "architecture",
    "stored_config", "make_loader", "Checkpoints", "abstract_like", "export_decoder", "DTYPES",
]
