"""Old module paths (before the sub-system layout) resolve to their new homes, so code written
against ``adain_jax.convert``, ``adain_jax.models``, ... keeps working: ``import
adain_jax.convert`` gives the module object of ``adain_jax.weights`` itself (no copy), and
``python -m adain_jax.fetch`` runs ``adain_jax.weights.fetch``."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

OLD_MODULES = {
    "adain_jax.models": "adain_jax.nn.models",
    "adain_jax.onednn": "adain_jax.nn.backends.onednn",
    "adain_jax.convert": "adain_jax.weights",
    "adain_jax.fetch": "adain_jax.weights.fetch",
    "adain_jax.torch_pickle": "adain_jax.weights.torch_pickle",
    "adain_jax.torch7": "adain_jax.weights.torch7",
    "adain_jax.transfer": "adain_jax.inference.transfer",
    "adain_jax.tiling": "adain_jax.inference.tiling",
    "adain_jax.pipeline": "adain_jax.inference.pipeline",
    "adain_jax.optimize": "adain_jax.inference.gatys",
    "adain_jax.training": "adain_jax.training",
    "adain_jax.data": "adain_jax.training.data",
    "adain_jax.checkpoint": "adain_jax.training.checkpoint",
}


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds old module names and hands out the new module object."""

    def find_spec(self, name, path=None, target=None):
        new = OLD_MODULES.get(name)
        if new is None or new == name:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        module = importlib.import_module(OLD_MODULES[spec.name])
        self._spec = module.__spec__  # the import system overwrites it; exec_module restores
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec

    def get_code(self, name):  # ``python -m`` on an old name runs the new module
        new = importlib.util.find_spec(OLD_MODULES[name])
        return new.loader.get_code(new.name)


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
