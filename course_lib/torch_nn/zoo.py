"""Every PyTorch model of the course by name, so a checkpoint's config rebuilds its model.

A checkpoint stores ``config["model"]`` (a name below) and
``config["model_kwargs"]``; :func:`build_model` turns them back into a module.
The classes are imported only when asked for, so loading a classifier does not
import the generative chapters' code.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

__all__ = ["MODELS", "build_model"]

# name -> (module, class)
MODELS: dict[str, tuple[str, str]] = {
    "simple": ("course_lib.torch_nn.cnn", "SimpleCNN"),
    "fashion": ("course_lib.torch_nn.cnn", "FashionCNN"),
    "generator": ("course_lib.torch_nn.gan", "Generator"),
    "discriminator": ("course_lib.torch_nn.gan", "Discriminator"),
    "gan": ("course_lib.torch_nn.gan", "GAN"),
    "conv_vae": ("course_lib.torch_nn.vae", "ConvVAE"),
    "mlp_vae": ("course_lib.torch_nn.vae", "MLPVAE"),
    "transformer_net": ("course_lib.torch_nn.fast_style", "TransformerNet"),
    "dncnn": ("course_lib.torch_nn.restore", "DnCNN"),
    "espcn": ("course_lib.torch_nn.restore", "ESPCN"),
    "unet": ("course_lib.torch_nn.restore", "UNet"),
    "pix2pix": ("course_lib.torch_nn.restore", "Pix2Pix"),
}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name with keyword sizes.

    Lists in ``kwargs`` become tuples, so a config read back from a checkpoint
    (where tuples were stored as lists) rebuilds the same model.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    module, cls = MODELS[name]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return getattr(importlib.import_module(module), cls)(**kwargs)
