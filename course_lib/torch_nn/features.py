"""The feature space of every generative metric in the book: the shipped classifier's.

Fréchet distances, precision and recall need pictures mapped to feature
vectors where distances mean something. The usual choice, Inception-v3
features (FID, Heusel et al. 2017), needs an ImageNet network that cannot be
downloaded here, and was trained on colour photographs at 299 x 299, not
28 x 28 grey clothes. The course uses instead the penultimate layer of its own
Chapter 5 classifier (``load_pretrained("cnn")``, 94 % on the test set): a
128-dimensional ReLU layer that separates the ten kinds of clothes. Numbers
computed in it are **not** comparable with published FID values, only with
each other; Chapter 6 calibrates them against simple baselines.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.datasets import normalize

__all__ = ["FEATURE_DIM", "classifier_features", "feature_classifier"]

FEATURE_DIM = 128  # hidden units of the shipped FashionCNN's head


@functools.lru_cache(maxsize=4)
def feature_classifier(device: str = "cpu") -> nn.Module:
    """The shipped Chapter 5 classifier on ``device``, verified, in eval mode (cached)."""
    return load_pretrained("cnn", device=torch.device(device))


def _penultimate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # FashionCNN.classifier: Flatten, Dropout, Linear, ReLU, Dropout, Linear; stop after the ReLU
    h = model.features(x)
    for layer in list(model.classifier)[:4]:
        h = layer(h)
    return h  # (N, 128)


@torch.no_grad()
def classifier_features(
    images_uint8: np.ndarray | torch.Tensor,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
    """Features float64 (N, 128) of uint8 pictures (N, 28, 28): the classifier's penultimate layer.

    The pictures are normalised as the classifier was trained (Fashion-MNIST's
    mean and standard deviation); dropout is off (eval mode).
    """
    images = torch.as_tensor(images_uint8)
    if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise ValueError(
            f"expected uint8 pictures (N, 28, 28), got {images.dtype} {tuple(images.shape)}"
        )
    device = torch.device(device) if device is not None else torch.device("cpu")
    model = feature_classifier(str(device))
    out = [
        _penultimate(model, normalize(images[i : i + batch_size]).to(device)).double().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, FEATURE_DIM))
