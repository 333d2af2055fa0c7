"""Orbax checkpoints of a training run, and the decoder export.

A run's ``<workdir>/checkpoints/<step>/`` holds three items (an orbax ``Composite``):

- ``state``: the train state pytree (step, decoder params, optimizer state), saved
  with ``StandardSave`` (asynchronously: ``save`` returns once the arrays are copied
  off the devices, so the caller may donate them to the next step);
- ``data``: the data iterators' positions, ``{'process_count': n, 'states': [...]}``
  with one JSON state per process (gathered from all hosts, written by the primary one);
- ``config``: the run's configuration (JSON), including an ``arch`` description that
  a resumed run must match.

Once orbax has finished a step, the primary process seals it: ``<step>/adain_sha256.json``
(written atomically) lists every file of the step with its size and SHA-256. On resume,
:meth:`Checkpoints.restore_newest` checks the newest step against its manifest before orbax
reads it, restores it, and checks the restored parameters are finite; a damaged step is
skipped with a message and the next older one is tried (once one is restored, the damaged
newer steps are moved to ``<workdir>/damaged-checkpoints/``). A step without a manifest (killed
between orbax's commit and the seal, or written by an older version) is restored unverified,
with a warning.

The decoder is also exported as ``<workdir>/decoder.npz`` in the format of
:func:`adain_jax.weights.save_params` (keys ``decoder/<layer>/kernel``), i.e. what
``weights.load_decoder`` / ``stylize.py --decoder`` read. A decoder with non-finite weights is
never exported (the previous file is kept).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp

from adain_jax import fs
from adain_jax.errors import ConfigError, WeightsError, one_line
from adain_jax.model import registry
from adain_jax.weights import save_params

ITEMS = ("state", "data", "config")
MANIFEST = "adain_sha256.json"
_CHUNK = 1 << 20


def _local(x) -> np.ndarray:
    """Host copy of a (replicated) array; works for arrays that span several hosts."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_data(0)
    return np.asarray(jax.device_get(x))


def to_host(tree) -> Any:
    return jax.tree.map(_local, tree)


def non_finite_count(tree) -> int:
    """Number of NaN/inf values in a tree of arrays."""
    return int(sum(np.size(x) - np.count_nonzero(np.isfinite(x))
                   for x in jax.tree.leaves(tree)))


def export_decoder(path: str | os.PathLike, params) -> Path:
    """Write the trained weights to ``path`` (atomically, replacing it): ``{'decoder': params}``
    for the main model; for a lite tree, its inference part ``{'lite_encoder', 'decoder'}``
    (the distillation head is dropped).

    Raises:
      WeightsError: the parameters hold NaN/inf values; ``path`` is left as it was.
    """
    host = to_host(params)
    tree = registry.of_trained(host).shipped(host)
    bad = non_finite_count(tree)
    if bad:
        raise WeightsError(f"refusing to export a decoder with {bad} non-finite weights; "
                           f"{path} was not replaced")
    return save_params(path, tree, overwrite=True)


def _digests(step_dir: Path) -> dict[str, list]:
    """``relative path -> [size, sha256]`` of every file under ``step_dir`` but the manifest."""
    out = {}
    for root, dirs, files in os.walk(step_dir):
        dirs.sort()
        for name in sorted(files):
            f = Path(root) / name
            rel = f.relative_to(step_dir).as_posix()
            if rel == MANIFEST:
                continue
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    h.update(chunk)
            out[rel] = [f.stat().st_size, h.hexdigest()]
    return out


def damage(step_dir: Path) -> str | None:
    """Why ``step_dir`` does not match its manifest (None: intact); ``'unsealed'`` when it
    has no manifest."""
    try:
        manifest = json.loads((step_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "unsealed"
    except (OSError, ValueError) as e:
        return f"unreadable checksum manifest ({one_line(e)})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        return "malformed checksum manifest"
    try:
        have = _digests(step_dir)
    except OSError as e:
        return f"unreadable file ({one_line(e)})"
    for rel, want in sorted(files.items()):
        if rel not in have:
            return f"{rel} is missing"
        if list(have[rel]) != list(want):
            what = "size" if have[rel][0] != want[0] else "SHA-256"
            return f"{rel} has the wrong {what} ({have[rel][0]} bytes, expected {want[0]})"
    extra = sorted(set(have) - set(files))
    if extra:
        return f"unexpected file {extra[0]}"
    return None


@contextlib.contextmanager
def _quiet_orbax():
    """Keep orbax's/asyncio's tracebacks of a failed read off the terminal (the caller
    reports one line): their loggers are silenced and unraisable-exception reports from
    its event loops are dropped while restoring."""
    names = ("asyncio", "absl", "orbax", "jax._src.distributed")
    saved = [(logging.getLogger(n), logging.getLogger(n).disabled) for n in names]
    hook = sys.unraisablehook
    try:
        for logger, _ in saved:
            logger.disabled = True
        sys.unraisablehook = lambda unraisable: None
        yield
    finally:
        for logger, disabled in saved:
            logger.disabled = disabled
        sys.unraisablehook = hook


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
        self._unsealed: list[int] = []
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

    def _seal(self) -> None:
        """Write the checksum manifest of every step orbax has finished since the last seal
        (primary process only; call after ``wait_until_finished``)."""
        steps, self._unsealed = self._unsealed, []
        if jax.process_index() != 0:
            return
        for step in steps:
            step_dir = self.directory / str(step)
            if not step_dir.is_dir() or (step_dir / MANIFEST).exists():
                continue
            manifest = {"format": "adain-jax-checkpoint-sha256-v1", "step": step,
                        "files": _digests(step_dir)}
            fs.atomic_write(step_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))

    def save(self, step: int, state, data_states: list, config: Mapping) -> None:
        """Start saving; returns once the device arrays are copied (safe to donate them).
        The previous step is sealed first (orbax waits for it anyway)."""
        self.wait()
        self._unsealed.append(int(step))
        data = {"process_count": len(data_states), "states": list(data_states)}
        self.manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data),
            config=ocp.args.JsonSave(dict(config))), force=True)

    def restore_config(self, step: int) -> dict:
        where = f"checkpoint {self.directory / str(step)}"
        try:
            with _quiet_orbax():
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
            with _quiet_orbax():
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
        bad = non_finite_count(to_host(out["state"]))
        if bad:
            raise ConfigError(f"{where} holds {bad} non-finite values (damaged); use an "
                              "earlier checkpoint")
        return out["state"], dict(data)

    def all_steps(self) -> list[int]:
        try:
            return sorted(int(s) for s in self.manager.all_steps())
        except Exception as e:  # noqa: BLE001 - a damaged directory
            raise self._unreadable(f"checkpoint directory {self.directory}", e) from None

    def restore_newest(self, abstract_state, check_config: Callable[[dict], None],
                       say: Callable[[str], None] = print):
        """Restore the newest intact checkpoint.

        Steps are tried newest first: checked against their checksum manifest, the config
        passed to ``check_config`` (whose ``ConfigError``, e.g. another architecture, stops
        the search), then restored and checked for non-finite values. A damaged step is
        reported through ``say`` and skipped.

        Returns:
          ``(step, config, state, data)``, or None when there is no checkpoint.
        Raises:
          ConfigError: every checkpoint is damaged (nothing is restored or overwritten).
        """
        steps = self.all_steps()
        reasons, damaged = [], []
        for step in reversed(steps):
            step_dir = self.directory / str(step)
            why = damage(step_dir)
            if why == "unsealed":
                say(f"warning: checkpoint {step_dir} has no checksum manifest (killed while "
                    "saving, or written by an older version); restoring it unverified")
                why = None
            if why is None:
                stage = "config"
                try:
                    config = self.restore_config(step)
                    stage = "check"
                    check_config(config)
                    stage = "state"
                    state, data = self.restore(step, abstract_state)
                    self._quarantine(damaged, say)
                    return step, config, state, data
                except ConfigError as e:
                    if stage == "check":  # another architecture, not damage: stop here
                        raise
                    why = one_line(e, 160)
            reasons.append(f"step {step}: {why}")
            damaged.append(step)
            say(f"checkpoint {step_dir} is damaged ({why}); trying an earlier one")
        if steps:
            raise ConfigError(f"every checkpoint in {self.directory} is damaged "
                              f"({'; '.join(reasons)[:400]}); delete them to start afresh, or "
                              "use a new --workdir")
        return None

    def _quarantine(self, steps: list[int], say: Callable[[str], None]) -> None:
        """Move damaged steps newer than the restored one out of orbax's folder (to
        ``<workdir>/damaged-checkpoints/``), so the resumed run can save those steps again."""
        if not steps:
            return
        if jax.process_index() == 0:
            dest = self.directory.parent / "damaged-checkpoints"
            for step in steps:
                target = fs.move_aside(self.directory / str(step), dest)
                say(f"moved the damaged checkpoint {step} to {target}")
        self.manager.reload()

    def wait(self) -> None:
        self.manager.wait_until_finished()
        self._seal()

    def close(self) -> None:
        self.wait()
        self.manager.close()


def abstract_like(tree, sharding=None):
    """ShapeDtypeStruct leaves (with ``sharding``) for restoring into ``tree``'s layout."""
    def one(x):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype,
                                    sharding=sharding if sharding is not None else getattr(x, "sharding", None))
    return jax.tree.map(one, tree)


__all__ = ["Checkpoints", "export_decoder", "gather_json", "to_host", "abstract_like", "damage",
           "non_finite_count", "MANIFEST"]
