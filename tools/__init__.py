"""Developer tools, run from the repository root as ``python -m tools.<sub>.<name>``."""
