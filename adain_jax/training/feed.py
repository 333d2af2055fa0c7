"""What the training loop steps on: a *feed* gives each step's global batch.

A feed has ``batch(step) -> (batch, host)``: ``batch`` is ``{'content', 'style'}`` of global
arrays sharded on the mesh's ``'data'`` axis, ``host`` this process's rows as host arrays, or
None when the data never leave the devices; ``get_state()``/``set_state()`` (a JSON-able data
position, stored in checkpoints) and ``close()``. Two kinds:

- :class:`HostFeed`: a host iterator of this process's rows (the grain ``PairLoader`` over a
  folder or a tfds split, or any iterator with ``get_state``/``set_state``);
- :class:`adain_jax.training.packs.PackFeed`: image packs held on the devices, sampled there.

:func:`open_feed` picks one from the config; the data modules are imported only when used, so
a machine without grain can train from packs.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import jax
import numpy as np

from adain_jax.errors import ConfigError
from adain_jax.training.step import global_batch


class HostFeed:
    """Host batches (this process's rows, float32 in [0, 1]) -> sharded global batches."""

    def __init__(self, loader: Iterator, mesh, global_size: int, own: bool = False):
        self.loader, self.mesh, self.global_size, self.own = loader, mesh, global_size, own

    def batch(self, step: int):
        host = next(self.loader)
        return global_batch(host, self.mesh, self.global_size), host

    def get_state(self) -> Any:
        return self.loader.get_state()

    def set_state(self, state: Any) -> None:
        self.loader.set_state(state)

    def close(self) -> None:
        if self.own and hasattr(self.loader, "close"):
            self.loader.close()


def make_loader(config, local_batch: int):
    """The grain ``PairLoader`` over ``config.content_data``/``style_data`` (folders or tfds),
    this process's shard."""
    from adain_jax.training.data import PairLoader

    return PairLoader(config.content_data, config.style_data, batch_size=local_batch,
                      crop_size=config.crop_size, resize=config.resize, seed=config.seed,
                      workers=config.workers, shard_index=jax.process_index(),
                      shard_count=jax.process_count())


def open_feed(config, mesh):
    """The feed for ``config``: packs (both data specs ``.npz`` files) or the PairLoader."""
    from adain_jax.training import packs

    kinds = {packs.is_pack(config.content_data), packs.is_pack(config.style_data)}
    if kinds == {True}:
        return packs.PackFeed.open(config.content_data, config.style_data, mesh,
                                   config.batch_size, config.crop_size, config.seed)
    if len(kinds) > 1:
        raise ConfigError("content_data and style_data must both be image packs (.npz) or "
                          "both folders/tfds splits")
    local = config.batch_size // jax.process_count()
    return HostFeed(make_loader(config, local), mesh, config.batch_size, own=True)


def host_rows(batch: Mapping, host: Mapping | None) -> Mapping:
    """This process's rows of a batch as host arrays (``host`` when the feed gave them)."""
    if host is not None:
        return host

    def local(x):
        shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start or 0)
        seen, rows = set(), []
        for s in shards:          # replicas of one row block appear once
            if (s.index[0].start or 0) not in seen:
                seen.add(s.index[0].start or 0)
                rows.append(np.asarray(s.data))
        return np.concatenate(rows)
    return {k: local(batch[k]) for k in ("content", "style")}


__all__ = ["HostFeed", "make_loader", "open_feed", "host_rows"]
