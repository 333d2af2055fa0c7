"""Developer tools (benchmarks, references, release, hardening, device runs), run from the
repository root as ``python -m tools.<sub>.<name>``."""
