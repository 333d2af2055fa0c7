"""Process-wide XLA set-up, done by the command-line tools (or an explicit call), never on
``import adain_jax``: the CPU flag below, which must be set before jax initialises its
backends, and JAX's persistent compilation cache.

On jaxlib's CPU backend, reflection-padded VALID convolutions hit a slow YNNPACK
fusion path; disabling that fusion (``--xla_cpu_experimental_ynn_fusion_type=``) made
stylizing ~3.9x faster on jaxlib 0.10.x. XLA aborts on unknown flags, so the flag is
added only for jaxlib versions where it is known to exist, and never when the user set
XLA_FLAGS to something mentioning it already. ``ADAIN_JAX_NO_XLA_FLAGS=1`` opts out.
"""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

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
    """Adds the CPU flag to XLA_FLAGS when safe; returns whether it is set afterwards.

    Call it before anything runs on a jax device (the CLIs call it first thing)."""
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


COMPILATION_CACHE = "jax-compilation"


def enable_compilation_cache(cache_dir=None) -> Path | None:
    """Makes jax keep compiled programs in ``<user cache dir>/jax-compilation`` (see
    ``adain_jax.fs.user_cache_dir``), so a second run of the same command does not recompile.

    The folder is created private (0700); an existing one that another user owns or others can
    write to is not used (compiled programs are machine code). Returns the folder, or None when
    it was not used. ``ADAIN_JAX_NO_COMPILATION_CACHE=1`` opts out."""
    if os.environ.get("ADAIN_JAX_NO_COMPILATION_CACHE"):
        return None
    from adain_jax import fs

    folder = fs.user_cache_dir(cache_dir) / COMPILATION_CACHE
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    # cache every program that takes noticeable time to compile, however small its entry
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
