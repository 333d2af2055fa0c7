"""Resource limits shared by the weight readers: a byte budget and bounded object walks.

Every reader (``.pth``, ``.t7``, ``.npz``, Keras ``.h5``) charges what it materialises (the
file's bytes, each storage, each tensor copy) to one :class:`Budget` per call and stops with a
one-line :class:`~adain_jax.errors.WeightsError` once the total would exceed it. The default,
:data:`DEFAULT_MAX_BYTES`, is far above any real AdaIN weight file (a full VGG + decoder tree
is ~30 MB); callers pass ``max_bytes=`` to ``load_vgg``/``load_decoder`` or to a reader to
change it. Object graphs from untrusted files are walked iteratively (:func:`walk_dicts`),
with a visited set and caps on depth and entries, never recursively.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from adain_jax.errors import WeightsError

#: Bytes one read may materialise in total unless the caller passes ``max_bytes``.
DEFAULT_MAX_BYTES = 512 << 20
#: Deepest container nesting a walk follows (a state dict is 1-3 levels deep).
MAX_DEPTH = 64
#: Most containers + entries a walk or a reader visits.
MAX_ENTRIES = 1_000_000


class Budget:
    """Bytes a reader may still materialise.

    Args:
      max_bytes: the total allowed (default :data:`DEFAULT_MAX_BYTES`).
    """

    def __init__(self, max_bytes: int | None = None):
        self.limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
        if self.limit <= 0:
            raise WeightsError(f"max_bytes must be positive, got {max_bytes!r}")
        self.used = 0

    def charge(self, nbytes: int, what: str = "data") -> None:
        """Account for ``nbytes`` more; raise before the total exceeds the limit."""
        nbytes = int(nbytes)
        if nbytes < 0:
            raise WeightsError(f"negative size for {what}")
        if self.used + nbytes > self.limit:
            raise WeightsError(
                f"reading {what} would materialise more than {self.limit} bytes in total "
                f"(already {self.used}; raise max_bytes to allow it)")
        self.used += nbytes


def as_budget(budget: "Budget | int | None") -> Budget:
    """A :class:`Budget` from a budget, a byte count or None (the default)."""
    return budget if isinstance(budget, Budget) else Budget(budget)


def kind(obj: Any) -> str:
    """A short, safe description of an untrusted object (its type; never its ``str``, which
    can be enormous for a shared-reference graph)."""
    return type(obj).__name__


def walk_dicts(root: Any, on_leaf: Callable[[str, Any], None], *, sep: str = ".",
               max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES) -> None:
    """Visit every non-dict value under nested dicts, iteratively, as ``on_leaf(key, value)``
    with keys joined by ``sep``.

    Keys must be ``str`` or ``int``. A dict reached twice (a cycle or a shared sub-dict),
    nesting deeper than ``max_depth`` or more than ``max_entries`` entries raise
    :class:`WeightsError`.
    """
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", root, 0)]
    entries = 0
    while stack:
        prefix, obj, depth = stack.pop()
        if not isinstance(obj, dict):
            on_leaf(prefix, obj)
            continue
        if id(obj) in seen:
            raise WeightsError("the object graph reaches one container twice (a cycle or a "
                               "shared sub-dict); a state dict is a tree")
        seen.add(id(obj))
        if depth >= max_depth:
            raise WeightsError(f"containers nested deeper than {max_depth} levels")
        entries += len(obj) + 1
        if entries > max_entries:
            raise WeightsError(f"more than {max_entries} entries in the object graph")
        children = []
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise WeightsError(f"unsupported key type {kind(k)} (keys must be strings)")
            children.append((f"{prefix}{sep}{k}" if prefix else str(k), v, depth + 1))
        stack.extend(reversed(children))


def iter_bounded(items: Iterator, what: str, max_entries: int = MAX_ENTRIES) -> Iterator:
    """``items``, raising :class:`WeightsError` after ``max_entries`` of them."""
    for i, item in enumerate(items):
        if i >= max_entries:
            raise WeightsError(f"more than {max_entries} {what}")
        yield item


__all__ = ["Budget", "as_budget", "walk_dicts", "kind", "iter_bounded", "DEFAULT_MAX_BYTES",
           "MAX_DEPTH", "MAX_ENTRIES"]
