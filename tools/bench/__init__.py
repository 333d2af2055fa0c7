"""Benchmarks: adain-jax against its peers (``bench``), training steps (``bench_train``), CPU
code paths (``cpu_paths``), the Magenta peer (``magenta``); results in ``tools/bench/results/``."""
