"""Orbax checkpoints of a training run, and the decoder export.

A run's ``<workdir>/checkpoints/<step>/`` holds three items (an orbax ``Composite``):

- ``state``: the train state pytree (step, decoder params, optimizer state), saved
  with ``StandardSave`` (asynchronously: ``save`` returns once the arrays are copied
  off the devices, so the caller may donate them to the next step);
- ``data``: the data iterators' positions, ``{'process_count': n, 'states': [...]}``
  with one JSON state per process (gathered from all hosts, written by the primary one);
- ``config``: the run's configuration (JSON), including an ``arch`` description that
  a resumed run must match.

The decoder is also exported as ``<workdir>/decoder.npz`` in the format of
:func:`adain_jax.weights.save_params` (keys ``decoder/<layer>/kernel``), i.e. what
``weights.load_decoder`` / ``stylize.py --decoder`` read.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp

from adain_jax.errors import ConfigError, one_line
from adain_jax.weights import save_params

ITEMS = ("state", "data", "config")


def _local(x) -> np.ndarray:
    """Host copy of a (replicated) array; works for arrays that span several hosts."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_data(0)
    return np.asarray(jax.device_get(x))


def to_host(tree) -> Any:
    return jax.tree.map(_local, tree)


def export_decoder(path: str | os.PathLike, decoder_params) -> Path:
    """Write ``{'decoder': params}`` to ``path`` (atomically, replacing it)."""
    return save_params(path, {"decoder": to_host(decoder_params)}, overwrite=True)


def gather_json(state: Any) -> list:
    """Every process's JSON-serialisable ``state``, in process order (a collective)."""
    if jax.process_count() == 1:
        return [state]
    from jax.experimental import multihost_utils

    raw = np.frombuffer(json.dumps(state).encode(), np.uint8)
    sizes = multihost_utils.process_allgather(np.array([raw.size], np.int64))
    padded = np.zeros(int(np.max(sizes)), np.uint8)
    padded[:raw.size] = raw
    allraw = np.asarray(multihost_utils.process_allgather(padded))
    return [json.loads(bytes(allraw[i, :int(sizes[i, 0])]).decode())
            for i in range(jax.process_count())]


class Checkpoints:
    """Thin wrapper over an orbax ``CheckpointManager`` in ``<workdir>/checkpoints``.

    Saving is explicit (the training loop decides when); ``keep`` most recent
    checkpoints are kept. All processes must call :meth:`save` and :meth:`restore`.
    """

    def __init__(self, workdir: str | os.PathLike, keep: int = 3, use_async: bool = True):
        if keep < 1:
            raise ConfigError(f"--keep must be at least 1, got {keep}")
        self.directory = Path(workdir).absolute() / "checkpoints"
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=use_async)
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options,
                                                 item_names=ITEMS)
        except OSError as e:
            raise ConfigError(f"cannot use checkpoint directory {self.directory}: "
                              f"{e.strerror or e}") from None
        except Exception as e:  # noqa: BLE001 - a damaged directory
            raise self._unreadable(f"checkpoint directory {self.directory}", e) from None

    def _unreadable(self, what: str, e: BaseException) -> ConfigError:
        return ConfigError(f"{what} is unreadable or corrupt ({one_line(e, 300, with_type=True)}); "
                           "delete it to resume from an earlier checkpoint, or use a new --workdir")

    def latest_step(self) -> int | None:
        try:
            return self.manager.latest_step()
        except Exception as e:  # noqa: BLE001 - a damaged directory
            raise self._unreadable(f"checkpoint directory {self.directory}", e) from None

    def save(self, step: int, state, data_states: list, config: Mapping) -> None:
        """Start saving; returns once the device arrays are copied (safe to donate them)."""
        data = {"process_count": len(data_states), "states": list(data_states)}
        self.manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data),
            config=ocp.args.JsonSave(dict(config))), force=True)

    def restore_config(self, step: int) -> dict:
        where = f"checkpoint {self.directory / str(step)}"
        try:
            out = self.manager.restore(int(step),
                                       args=ocp.args.Composite(config=ocp.args.JsonRestore()))
            config = out["config"]
        except Exception as e:  # noqa: BLE001 - orbax/json/OS errors of a damaged checkpoint
            raise self._unreadable(where, e) from None
        if not isinstance(config, Mapping):
            raise ConfigError(f"{where} has a malformed config record "
                              f"({type(config).__name__}); use a new --workdir")
        return dict(config)

    def restore(self, step: int, abstract_state) -> tuple[Any, dict]:
        """(state, data) of checkpoint ``step``; ``abstract_state`` gives structure, shapes,
        dtypes and shardings (``jax.ShapeDtypeStruct`` leaves)."""
        where = f"checkpoint {self.directory / str(step)}"
        try:
            out = self.manager.restore(int(step), args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state),
                data=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{where} does not fit this model or is corrupt "
                              f"({one_line(e, 300, with_type=True)}); use a new --workdir") from None
        except Exception as e:  # noqa: BLE001 - OS/orbax/tensorstore errors of a damaged file
            raise self._unreadable(where, e) from None
        data = out["data"]
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} has a malformed data position record "
                              f"({type(data).__name__}); use a new --workdir")
        return out["state"], dict(data)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def abstract_like(tree, sharding=None):
    """ShapeDtypeStruct leaves (with ``sharding``) for restoring into ``tree``'s layout."""
    def one(x):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype,
                                    sharding=sharding if sharding is not None else getattr(x, "sharding", None))
    return jax.tree.map(one, tree)


__all__ = ["Checkpoints", "export_decoder", "gather_json", "to_host", "abstract_like"]
