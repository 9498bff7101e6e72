"""The NumPy texture loss of Chapter 8 in torch: the reference its hand-derived gradient meets.

:func:`torch_texture_loss` rebuilds ``course_lib.numpy_nn.texture.texture_loss``
from its definition (the same pyramid, halving convolution, pixel channels and
Gatys' per-layer loss) and lets autograd find the image gradient.
``tests/unit/test_texture.py`` asserts that the two agree to round-off, and
``benchmarks/bench_style.py`` times the two against each other.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.numpy_nn.texture import RandomPyramidNet, halving_filter

__all__ = ["torch_texture_loss"]


def torch_texture_loss(x: np.ndarray, net: RandomPyramidNet, targets: list[np.ndarray]
                       ) -> tuple[float, np.ndarray]:
    """``sum_l (C_l^2 / 4) mean((G_l - A_l)^2)`` over the levels and its x-gradient, by autograd.

    ``x`` (1, 3, H, W), ``targets[l]`` (1, C_l, C_l), float64; returns
    ``(loss, dx)`` as ``texture_loss`` does.
    """
    blur = torch.from_numpy(halving_filter(x.dtype))  # (3, 3, 4, 4)
    weight = torch.from_numpy(net.weight)
    xt = torch.tensor(x, requires_grad=True)
    h, loss = xt - 0.5, 0.0
    pad = net.weight.shape[-1] // 2
    for level in range(net.levels):
        if level:
            h = F.conv2d(h, blur, stride=2, padding=1)  # (N, 3, H / 2^l, W / 2^l)
        f = torch.cat([net.pixel_scale * h, F.relu(F.conv2d(h, weight, padding=pad))], dim=1)
        n, c, hh, ww = f.shape
        flat = f.reshape(n, c, hh * ww)  # (N, 3 + C, HW)
        gram = flat @ flat.transpose(1, 2) / (c * hh * ww)
        loss = loss + c * c / 4 * ((gram - torch.from_numpy(targets[level])) ** 2).mean()
    loss.backward()
    return loss.item(), xt.grad.numpy()
