"""Random NumPy parameters (``params``) for tests, benchmarks and fault trials. The PyTorch
references live beside the tests: ``tests.reference``."""
