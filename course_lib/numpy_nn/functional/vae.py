"""The two pieces a VAE adds to a network: the reparameterisation and the Bernoulli likelihood.

The encoder of a variational autoencoder (Kingma & Welling 2014) outputs the
mean ``mu`` and the log-variance ``logvar`` of a diagonal Gaussian
``q(z | x) = N(mu, diag(exp(logvar)))``; the decoder turns a sample ``z`` into
the logits of one Bernoulli per pixel. Chapter 7 derives (labels ``eq-ch07-*``):

    z = mu + exp(logvar / 2) * eps,   eps ~ N(0, I)                (eq-ch07-reparam)

the *reparameterisation trick* (Kingma & Welling 2014, section 2.4): the noise
is an input, so z is a deterministic, differentiable function of mu and
logvar, and the gradient flows back to the encoder through it; and

    -log p(x | z) = sum_pixels softplus(l) - x l,   l = decoder(z)  (eq-ch07-bernoulli)

the reconstruction term of the negative ELBO. The other term, the KL divergence
of ``q(z | x)`` from the prior ``N(0, I)``, is closed-form:
:func:`course_lib.numpy_nn.functional.losses.gaussian_kl`.

Inputs are checked as in :mod:`~course_lib.numpy_nn.functional.losses`: one
shape for all (nothing is broadcast), a batch axis first, finite floats; the
dtype of the inputs is kept (float32 in, float32 out).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from course_lib.numpy_nn._validate import (
    as_array,
    as_dout,
    as_input,
    as_same_shape,
    check_batch_axis,
    check_cache,
    check_exp_range,
    check_shape,
    check_unit_interval,
)
from course_lib.numpy_nn.functional.activations import sigmoid_forward
from course_lib.numpy_nn.functional.losses import log_sigmoid

__all__ = [
    "ReparameterizeCache",
    "bernoulli_nll",
    "reparameterize_backward",
    "reparameterize_forward",
]


class ReparameterizeCache(NamedTuple):
    """What :func:`reparameterize_backward` needs from the forward pass."""

    eps: np.ndarray  # (N, D), the noise
    std: np.ndarray  # (N, D), exp(logvar / 2)


def reparameterize_forward(
    mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray
) -> tuple[np.ndarray, ReparameterizeCache]:
    """``z = mu + exp(logvar / 2) * eps`` (eq-ch07-reparam), a sample of N(mu, diag(exp(logvar))).

    Args:
        mu: means (N, D) (or (N, ...): every axis after the first is a latent dimension).
        logvar: log-variances, the shape of ``mu``. ``exp(logvar / 2)`` overflows
            above about 1400 (float64) or 177 (float32).
        eps: standard normal noise, the shape of ``mu``, drawn by the caller so
            that the pass is a deterministic function of its inputs; it is cast
            to the dtype of ``mu`` and ``logvar`` (a float64 draw does not turn
            a float32 network into float64).

    Returns:
        ``z`` (N, D) in the dtype of ``mu`` and ``logvar``, and the cache.
    """
    mu, logvar = as_same_shape(mu, logvar, ("mu", "logvar"))
    check_batch_axis(mu, "mu")
    check_exp_range(logvar, "logvar", scale=0.5)
    eps = as_array(eps, "eps")
    check_shape(eps, mu.shape, "eps", f"one noise value per entry of mu {mu.shape}")
    eps = as_input(eps, "eps", dtype=mu.dtype)
    std = np.exp(0.5 * logvar)  # (N, D): sigma = exp(logvar / 2)
    return mu + std * eps, ReparameterizeCache(eps, std)


def reparameterize_backward(
    dz: np.ndarray, cache: ReparameterizeCache
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients with respect to ``mu`` and ``logvar``, given ``dz = dL/dz`` (N, D).

    From ``z = mu + exp(logvar / 2) eps`` (eq-ch07-reparam-grad):

    - ``dmu = dz``: z moves one for one with mu;
    - ``dlogvar = dz * eps * exp(logvar / 2) / 2``: ``d exp(s/2) / ds = exp(s/2) / 2``.

    eps is a constant: no gradient flows into the noise.
    """
    check_cache(cache, ReparameterizeCache, "reparameterize_forward")
    eps, std = cache
    dz = as_dout(dz, eps.shape, eps.dtype, "reparameterize_forward", name="dz")
    return dz, dz * eps * std * eps.dtype.type(0.5)


def bernoulli_nll(logits: np.ndarray, x: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """``-log p(x | logits)`` of independent Bernoullis, in nats per example, and its gradient.

    ``logits`` (N, ...) real, ``x`` of the same shape in ``[0, 1]``. Each example's
    negative log-likelihood is summed over all its elements (the pixels) and the
    result is **averaged over the batch** (eq-ch07-bernoulli)::

        nll = 1/N sum_n sum_i softplus(l_ni) - x_ni l_ni
            = 1/N sum_n sum_i (1 - x_ni) l_ni - log sigmoid(l_ni)

    written with the stable ``log_sigmoid``, finite for any finite logits (the
    element-wise loss of ``bce_with_logits_loss``, eq-ch04-bce-logits, summed
    instead of averaged). ``dlogits = (sigmoid(logits) - x) / N``. Matches
    ``F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / N``.

    A Bernoulli is a distribution on {0, 1}: on binarised pictures this is the
    likelihood of the data, but on grey levels in (0, 1) it is only a
    cross-entropy (its minimum over the logits is the entropy of x, not zero),
    not the likelihood of a continuous pixel, and its values are not comparable
    to log-likelihoods in nats.
    """
    l, x = as_same_shape(logits, x, ("logits", "x"))
    check_batch_axis(l, "logits")
    check_unit_interval(x, "x")
    n = l.dtype.type(l.shape[0])
    nll = np.sum((1 - x) * l - log_sigmoid(l)) / n  # eq-ch07-bernoulli
    dlogits = (sigmoid_forward(l)[0] - x) / n  # (N, ...)
    return l.dtype.type(nll), dlogits.astype(l.dtype, copy=False)
