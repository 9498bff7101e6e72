"""Chapter 7 exercises: variational autoencoders.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch07.py``.

Exercise ids, functions and the book equation each implements:

* ``ch07-ex-reparameterized-gradient``: :func:`reparameterized_gradient` (``eq-ch07-reparam-grad``)
* ``ch07-ex-iwae-logsumexp``: :func:`iwae_from_log_weights` (``eq-ch07-iwae``)
* ``ch07-ex-kl-per-dimension``: :func:`kl_per_dimension` (``eq-ch07-kl-per-dim``)
* ``ch07-ex-active-units``: :func:`count_active_units` (``eq-ch07-active-units``)

Conventions are the book's: ``q(z | x) = N(mu, diag(exp(logvar)))``, the
prior ``N(0, I)``, natural logarithms (nats). Every exercise says "NumPy
only": the graded tests check it, and a solution that uses torch or SciPy
loses those points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "count_active_units",
    "iwae_from_log_weights",
    "kl_per_dimension",
    "reparameterized_gradient",
]


def _float_array(a: object, name: str) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be finite")
    return out


def reparameterized_gradient(
    f_grad: Callable[[np.ndarray], np.ndarray],
    mu: np.ndarray,
    logvar: np.ndarray,
    eps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The reparameterisation estimate of the gradient of ``E_q[f(z)]`` in ``mu`` and ``logvar``.

    Exercise ``ch07-ex-reparameterized-gradient``. With ``q = N(mu,
    diag(exp(logvar)))`` and ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0,
    I)`` (book equation ``eq-ch07-reparam``), the gradient of the expectation
    is the expectation of the gradient through ``z`` (``eq-ch07-reparam-grad``)::

        d/dmu_j     E[f(z)] = E[ df/dz_j ]
        d/dlogvar_j E[f(z)] = E[ df/dz_j * eps_j * exp(logvar_j / 2) / 2 ]

    Estimate both with the ``S`` given draws ``eps`` (the sample mean over
    them), NumPy only (no torch, no autograd library).

    Args:
        f_grad: the gradient of ``f``: takes ``z`` of shape (S, L) and returns
            ``df/dz`` at each row, shape (S, L).
        mu, logvar: (L,) the parameters of ``q``.
        eps: (S, L) standard normal draws, ``S >= 1``.

    Returns:
        ``(dmu, dlogvar)``, float64 arrays of shape (L,).

    Raises:
        ValueError: if a shape does not fit (``mu`` and ``logvar`` (L,),
            ``eps`` (S, L), ``f_grad``'s output (S, L)) or a value is not finite.
    """
    ### BEGIN SOLUTION
    mu, logvar = _float_array(mu, "mu"), _float_array(logvar, "logvar")
    eps = _float_array(eps, "eps")
    if mu.ndim != 1 or logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must both be (L,), got {mu.shape} and {logvar.shape}")
    if eps.ndim != 2 or eps.shape[1] != mu.shape[0] or eps.shape[0] < 1:
        raise ValueError(f"eps must be (S, {mu.shape[0]}) with S >= 1, got {eps.shape}")
    std = np.exp(0.5 * logvar)  # (L,)
    z = mu + std * eps  # (S, L), eq-ch07-reparam
    g = _float_array(f_grad(z), "f_grad(z)")
    if g.shape != eps.shape:
        raise ValueError(f"f_grad must return (S, L) = {eps.shape}, got {g.shape}")
    dmu = g.mean(axis=0)  # dz/dmu = 1
    dlogvar = (g * eps * std / 2).mean(axis=0)  # dz/dlogvar = eps exp(logvar / 2) / 2
    return dmu, dlogvar
    ### END SOLUTION


def iwae_from_log_weights(log_w: np.ndarray) -> np.ndarray:
    """The importance-weighted bound ``log (1/k) sum_i w_i`` from the log-weights, per column.

    Exercise ``ch07-ex-iwae-logsumexp``. For each picture n the IWAE bound
    (Burda et al. 2016; book equation ``eq-ch07-iwae``) with ``k`` samples is::

        L_k(x_n) = log( (1/k) sum_{i=1..k} exp(log_w[i, n]) ),
        log_w[i, n] = log p(x_n, z_i) - log q(z_i | x_n)

    Log-weights of a VAE are of the order -200 to -1000 nats: ``exp`` of them
    underflows to 0 in float64, and ``log(0)`` is ``-inf``. Compute ``L_k``
    without overflow, underflow or warnings, NumPy only (no
    ``scipy.special.logsumexp``, no torch). A log-weight may be ``-inf`` (a
    weight of 0); a column of only ``-inf`` has bound ``-inf``.

    Args:
        log_w: (k, N) float log-weights, ``k >= 1``, values finite or ``-inf``.

    Returns:
        (N,) float64 bounds.

    Raises:
        ValueError: if ``log_w`` is not 2-D with ``k >= 1``, or holds NaN or ``+inf``.
    """
    ### BEGIN SOLUTION
    a = np.asarray(log_w, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"log_w must be (k, N) with k >= 1, got shape {a.shape}")
    if np.isnan(a).any() or (a == np.inf).any():
        raise ValueError("log-weights must be finite or -inf, not NaN or +inf")
    m = a.max(axis=0)  # (N,) the largest log-weight of each column
    m_safe = np.where(np.isfinite(m), m, 0.0)  # a column of -inf: subtract 0, not -inf
    s = np.exp(a - m_safe).sum(axis=0)  # (N,) in [1, k] unless the column is all -inf
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer there
        return m_safe + np.log(s) - np.log(a.shape[0])
    ### END SOLUTION


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """The KL of each latent dimension to the prior, averaged over a batch: (N, L) -> (L,) nats.

    Exercise ``ch07-ex-kl-per-dimension``. For each dimension j
    (book equation ``eq-ch07-kl-per-dim``, Chapter 4's Gaussian KL one
    dimension at a time)::

        KL_j = (1/N) sum_n 1/2 (mu[n, j]^2 + exp(logvar[n, j]) - 1 - logvar[n, j])

    Their sum is the VAE's rate, ``KL(q(z | x) || N(0, I))`` averaged over the
    batch. NumPy only.

    Raises:
        ValueError: if the shapes differ, are not 2-D, or a value is not finite.
    """
    ### BEGIN SOLUTION
    mu, logvar = _float_array(mu, "mu"), _float_array(logvar, "logvar")
    if mu.ndim != 2 or logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must both be (N, L), got {mu.shape} and {logvar.shape}")
    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar).mean(axis=0)  # (L,)
    ### END SOLUTION


def count_active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """How many latent dimensions the encoder uses: those whose posterior mean varies.

    Exercise ``ch07-ex-active-units``. Burda et al. (2016,
    sec. 5.2; book equation ``eq-ch07-active-units``) call dimension j
    *active* when ``Cov_x(E_q[z_j | x]) > threshold``: the variance over the
    N pictures of the posterior means ``mu[:, j]``, the unbiased sample
    variance (divided by ``N - 1``), strictly above ``threshold``. NumPy only.

    Args:
        mu: (N, L) posterior means, ``N >= 2``.
        threshold: a variance, ``>= 0``.

    Returns:
        The number of active dimensions, a Python ``int`` in ``0..L``.

    Raises:
        ValueError: if ``mu`` is not 2-D with ``N >= 2``, holds a non-finite
            value, or ``threshold`` is negative.
    """
    ### BEGIN SOLUTION
    mu = _float_array(mu, "mu")
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError(f"mu must be (N, L) with N >= 2, got shape {mu.shape}")
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    variance = mu.var(axis=0, ddof=1)  # (L,) unbiased, over the pictures
    return int(np.count_nonzero(variance > threshold))
    ### END SOLUTION
