"""Multi-host setup shared by training and the dataset job: one place that calls
``jax.distributed.initialize``.

Explicit: ``coordinator='HOST:PORT'``, ``num_processes=N``, ``process_id=I`` (every process
gets the same coordinator and N, and its own I). Automatic: ``auto=True`` (``--tpu``) lets jax
detect the cluster (TPU pods, SLURM, Open MPI, ...). On CPUs the collectives go through gloo,
so several processes on one machine (or on several) form one jax runtime.
"""
from __future__ import annotations

import jax

from adain_jax.errors import ConfigError, one_line
from adain_jax.inference import validate


def requested(coordinator: str | None, num_processes: int | None, process_id: int | None,
              auto: bool = False) -> bool:
    """Whether the flags ask for a multi-process runtime."""
    return bool(auto or coordinator or num_processes is not None or process_id is not None)


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False) -> bool:
    """Join the multi-process jax runtime if asked to (once per process).

    Args:
      coordinator: ``HOST:PORT`` of process 0's coordination service.
      num_processes: how many processes take part.
      process_id: this process's index in ``[0, num_processes)``.
      auto: let jax detect the cluster (TPU pods, SLURM) for whatever is not given.
    Returns:
      True if the runtime is (now) multi-process-initialised, False if nothing was asked.
    Raises:
      ConfigError: bad flags, or jax could not initialise (one line, with jax's reason).
    """
    if not requested(coordinator, num_processes, process_id, auto):
        return False
    validate.distributed(coordinator, num_processes, process_id, auto)
    is_init = getattr(jax.distributed, "is_initialized", None)
    if is_init is not None and is_init():
        return True
    try:  # CPU collectives (no-op where the option is gone or already set)
        if jax.config.jax_cpu_collectives_implementation in (None, "", "none"):
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except AttributeError:
        pass
    try:
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=num_processes, process_id=process_id)
    except (RuntimeError, ValueError) as e:
        what = (f"--coordinator {coordinator}" if coordinator else "--tpu (cluster auto-detection)")
        raise ConfigError(f"{what}: jax.distributed.initialize() failed ({one_line(e, 300)}); "
                          "on a single host drop the multi-host flags") from None
    return True


def barrier(name: str) -> None:
    """Wait until every process reaches ``name`` (no-op for one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


__all__ = ["initialize", "requested", "barrier"]
