"""Device-agnostic PyTorch counterparts of the NumPy reference code."""
