"""Tools for the dataset job: its benchmark against a per-image PyTorch loop."""
