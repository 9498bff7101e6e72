"""The NumPy VAE's training step in torch: the reference its hand-made backward is checked on.

:func:`vae_to_torch` copies a ``course_lib.numpy_nn.vae.NumpyVAE`` into two
``torch.nn`` MLPs (float64, same weights); :func:`torch_vae_step` computes the same negative ELBO as
``course_lib.numpy_nn.vae.vae_step``, with the library's own pieces (the
Bernoulli likelihood as ``F.binary_cross_entropy_with_logits``, the KL through
``torch.distributions``) and autograd doing the calculus. Chapter 7
and ``tests/unit/test_vae_numpy.py`` assert that one whole training step
(forward, backward, Adam update) agrees to round-off in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from course_lib.numpy_nn.vae import NumpyVAE
from course_lib.torch_nn.toy_gan_reference import mlp_to_torch

__all__ = ["torch_vae_step", "vae_to_torch"]


def vae_to_torch(vae: NumpyVAE) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """The encoder and the decoder in torch.nn, float64, weights copied (see ``mlp_to_torch``)."""
    return mlp_to_torch(vae.encoder), mlp_to_torch(vae.decoder)


def torch_vae_step(
    encoder_t: torch.nn.Module,
    decoder_t: torch.nn.Module,
    x: torch.Tensor,
    eps: torch.Tensor,
    beta: float = 1.0,
    *,
    optimizer: torch.optim.Optimizer | None = None,
) -> tuple[float, float, float]:
    """``rec + beta * kl`` on ``x`` (N, P) with the noise ``eps`` (N, D); backward, then a step.

    The encoder maps (N, P) -> (N, 2D), mu then logvar; the decoder (N, D) ->
    (N, P) logits. The gradients are left in ``.grad`` (zeroed first when an
    ``optimizer`` is given, which then takes one step). Returns ``(loss, rec, kl)``,
    each in nats per image.
    """
    h = encoder_t(x)  # (N, 2D)
    d = h.shape[1] // 2
    mu, logvar = h[:, :d], h[:, d:]  # (N, D) each
    std = torch.exp(logvar / 2)
    z = mu + std * eps  # the reparameterisation, Kingma & Welling 2014, section 2.4
    logits = decoder_t(z)  # (N, P)
    n = x.shape[0]
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = kl_divergence(Normal(mu, std), prior).sum(1).mean()
    loss = rec + beta * kl
    if optimizer is not None:
        optimizer.zero_grad()
    loss.backward()
    if optimizer is not None:
        optimizer.step()
    return loss.item(), rec.item(), kl.item()
