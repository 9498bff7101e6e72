"""NumPy reference implementations: forward/backward pairs derived by hand in the book."""
