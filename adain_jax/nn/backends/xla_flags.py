"""XLA set-up that must happen before jax initialises its backends.

On jaxlib's CPU backend, reflection-padded VALID convolutions hit a slow YNNPACK
fusion path; disabling that fusion (``--xla_cpu_experimental_ynn_fusion_type=``) made
stylizing ~3.9x faster on jaxlib 0.10.x. XLA aborts on unknown flags, so the flag is
added only for jaxlib versions where it is known to exist, and never when the user set
XLA_FLAGS to something mentioning it already. ``ADAIN_JAX_NO_XLA_FLAGS=1`` opts out.
"""
from __future__ import annotations

import os
from importlib import metadata

CPU_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
# jaxlib versions on which the flag exists and was measured to help (see tools/bench/).
KNOWN_JAXLIB_PREFIXES = ("0.10.",)


def cpu_flag_supported(jaxlib_version: str | None = None) -> bool:
    if jaxlib_version is None:
        try:
            jaxlib_version = metadata.version("jaxlib")
        except metadata.PackageNotFoundError:
            return False
    return jaxlib_version.startswith(KNOWN_JAXLIB_PREFIXES)


def configure(environ=os.environ) -> bool:
    """Adds the CPU flag to XLA_FLAGS when safe; returns whether it is set afterwards."""
    flags = environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in flags:
        return True
    if environ.get("ADAIN_JAX_NO_XLA_FLAGS") or not cpu_flag_supported():
        return False
    import sys

    if "jax" in sys.modules:
        # Backends may already be initialised; XLA_FLAGS would be read too late or
        # inconsistently, so leave the user's set-up alone.
        try:
            from jax._src import xla_bridge

            if xla_bridge.backends_are_initialized():
                return False
        except Exception:  # pragma: no cover - private API moved
            return False
    environ["XLA_FLAGS"] = (flags + " " + CPU_FLAG).strip()
    return True
