"""Independent PyTorch references, beside the tests that check the library against them (and
used by the benchmarks): the network (``torch_adain``) and the lite model (``torch_lite``).
Never imported by the library; import them only where torch is installed."""
