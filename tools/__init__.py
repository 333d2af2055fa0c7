"""Developer tools outside the package (benchmarks, references, release helpers)."""
