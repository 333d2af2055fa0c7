"""Independent references for tests and benchmarks: the PyTorch network (``torch_adain``,
needs torch) and random NumPy parameters (``params``)."""
