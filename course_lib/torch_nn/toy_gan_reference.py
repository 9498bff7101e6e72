"""The NumPy toy GAN's game in torch: the reference its hand-derived step is checked against.

:func:`mlp_to_torch` copies a ``course_lib.numpy_nn`` MLP into ``torch.nn``
(float64, same weights); :func:`torch_gan_step` plays one round exactly as
``course_lib.numpy_nn.toy_gan.gan_step`` does, in the form of pytorch/examples'
``dcgan/main.py``, with autograd doing the calculus. Chapter 6, notebook 2,
and ``tests/unit/test_toy_gan.py`` assert that the two agree to round-off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.module import Sequential

__all__ = ["mlp_to_torch", "torch_gan_step"]


def mlp_to_torch(model: Sequential) -> torch.nn.Sequential:
    """The same MLP in torch.nn, float64, with the weights copied.

    Ours store a Linear's weight as (in, out) (``x @ W``), torch as (out, in).
    """
    layers: list[torch.nn.Module] = []
    for m in model:
        if isinstance(m, L.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
            with torch.no_grad():
                t.weight.copy_(torch.tensor(m.weight.data.T))
                t.bias.copy_(torch.tensor(m.bias.data))
            layers.append(t)
        elif isinstance(m, L.LeakyReLU):
            layers.append(torch.nn.LeakyReLU(m.negative_slope))
        elif type(m) in (L.ReLU, L.Tanh):
            layers.append({L.ReLU: torch.nn.ReLU, L.Tanh: torch.nn.Tanh}[type(m)]())
        else:
            raise ValueError(f"no torch counterpart for layer {type(m).__name__}")
    return torch.nn.Sequential(*layers)


def torch_gan_step(
    G: torch.nn.Module,
    D: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
    *,
    loss: str = "non-saturating",
    pack: int = 1,
) -> tuple[float, float]:
    """One round: D's update on ``real`` (B*m, 2) and ``G(z)`` detached, then G's on the same fakes.

    Returns ``(loss_d, loss_g)``. ``pack`` = m puts m consecutive samples side
    by side, (B*m, 2) -> (B, 2m), as PacGAN does.
    """
    if loss not in ("non-saturating", "minimax"):
        raise ValueError(f"loss must be 'non-saturating' or 'minimax', got {loss!r}")
    b = real.shape[0] // pack
    fake = G(z)  # (B*m, 2)
    real_logits = D(real.reshape(b, 2 * pack))  # (B, 1)
    fake_logits = D(fake.detach().reshape(b, 2 * pack))  # detached: D's update only
    loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    out = D(fake.reshape(b, 2 * pack))  # the updated D on the same fakes
    if loss == "non-saturating":
        loss_g = -F.logsigmoid(out).mean()  # -mean log D(G(z))
    else:
        loss_g = F.logsigmoid(-out).mean()  # mean log(1 - D(G(z))) = mean log sigmoid(-s)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()
