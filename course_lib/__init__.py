"""Companion package of the course *Neural Networks for Image Processing and Generation*.

The book imports everything it does not derive on the page from here.
``numpy_nn`` holds the from-scratch NumPy reference implementations,
``torch_nn`` the device-agnostic PyTorch side, ``data`` the datasets and
pictures, ``viz`` the figures. Nothing runs, seeds or downloads on import.
"""

__version__ = "0.1.0"
