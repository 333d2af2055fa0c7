"""Prints what CMakeLists.txt needs from the build environment, one ``KEY=value`` per line:
jax's FFI headers (``jax.ffi.include_dir()``), the jaxlib version they come from, and the
oneDNN headers and library installed by the ``onednn-devel-cpu-gomp`` build requirement
(or found under ``$DNNL_ROOT``). Run at build time only."""
import os
import sys
from importlib import metadata
from pathlib import Path


def onednn_root():
    roots = [os.environ.get("DNNL_ROOT")]
    for dist in ("onednn-devel-cpu-gomp", "onednn-devel"):
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            if str(f).replace("\\", "/").endswith("include/oneapi/dnnl/dnnl.hpp"):
                roots.append(str(Path(f.locate()).resolve().parents[3]))
    roots += [sys.prefix, "/usr/local", "/usr"]
    for root in filter(None, roots):
        inc, lib = Path(root) / "include", Path(root) / "lib"
        libs = sorted(lib.glob("libdnnl.so.[0-9]*"), key=lambda p: len(p.name))
        if (inc / "oneapi" / "dnnl" / "dnnl.hpp").is_file() and libs:
            return inc, libs[0]
    return None


def main():
    import jax.ffi

    print(f"FFI_INCLUDE={jax.ffi.include_dir()}")
    print(f"JAXLIB_VERSION={metadata.version('jaxlib')}")
    found = onednn_root()
    if found:
        print(f"DNNL_INCLUDE={found[0]}")
        print(f"DNNL_LIBRARY={found[1]}")  # the SONAME file, e.g. libdnnl.so.3


if __name__ == "__main__":
    main()
