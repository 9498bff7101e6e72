"""Chapter 6 exercises: generative adversarial networks.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch06.py``.

Exercise ids, functions and the book equation each implements:

* ``ch06-ex-optimal-discriminator``: :func:`optimal_discriminator` (``eq-ch06-optimal-d``)
* ``ch06-ex-js-divergence``: :func:`jensen_shannon` (``eq-ch06-js``)
* ``ch06-ex-frechet-gaussians``: :func:`frechet_distance_gaussians` (``eq-ch06-frechet``)
* ``ch06-ex-generator-gradient``: :func:`generator_sample_gradient` (``eq-ch06-ns-gradient``)

Conventions are the book's: ``p_data`` is the data density and ``p_g`` the
generator's; ``D(x)`` is the discriminator's probability that ``x`` is real,
``D(x) = sigmoid(s(x))`` with ``s`` its logit; logarithms are natural (nats).
Two exercises state a constraint ("NumPy only, without ..."): the graded tests
check it, and a solution that breaks it loses those points.
"""

from __future__ import annotations

import numpy as np

from course_lib.numpy_nn.functional.losses import log_sigmoid

__all__ = [
    "frechet_distance_gaussians",
    "generator_sample_gradient",
    "jensen_shannon",
    "optimal_discriminator",
]


def optimal_discriminator(log_p_data: np.ndarray, log_p_g: np.ndarray) -> np.ndarray:
    """The optimal discriminator ``D*(x)`` of a fixed generator, from two log-densities.

    Exercise ``ch06-ex-optimal-discriminator``. For a fixed generator the
    discriminator that maximises the value ``V(D, G)`` is (Goodfellow et al.
    2014, Proposition 1; book equation ``eq-ch06-optimal-d``)::

        D*(x) = p_data(x) / (p_data(x) + p_g(x))

    You are given the log-densities ``log p_data(x)`` and ``log p_g(x)`` at
    some points ``x``. Exponentiating them does not work: a log-density of
    ``-1e4`` underflows to a density of 0 (and ``0 / 0``), one of ``+800``
    overflows. Rewrite ``D*`` as a function of ``log p_data - log p_g`` and
    evaluate it without overflow, underflow to NaN, or warnings, for any
    finite log-densities. Requirements:

    * exactly ``0.5`` wherever the two log-densities are equal;
    * full relative precision in the tails: ``D*`` of ``log p_data - log p_g
      = -700`` is about ``1e-304``, not 0;
    * a log-density may be ``-inf`` (density 0): ``D* = 1`` where only
      ``p_g`` is 0, ``0`` where only ``p_data`` is 0, and, by convention,
      ``0.5`` where both are 0 (outside both supports ``D*`` is arbitrary).

    Args:
        log_p_data, log_p_g: float arrays of one shape (any shape), values
            finite or ``-inf``.

    Returns:
        ``D*``, a float64 array of that shape, values in ``[0, 1]``.

    Raises:
        ValueError: if the shapes differ, or a value is NaN or ``+inf``.
    """
    ### BEGIN SOLUTION
    a = np.asarray(log_p_data, dtype=np.float64)
    b = np.asarray(log_p_g, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"log_p_data {a.shape} and log_p_g {b.shape} must have one shape")
    if np.isnan(a).any() or np.isnan(b).any() or (a == np.inf).any() or (b == np.inf).any():
        raise ValueError("log-densities must be finite or -inf, not NaN or +inf")
    both_zero = (a == -np.inf) & (b == -np.inf)
    # D* = 1 / (1 + p_g / p_data) = sigmoid(t), t = log p_data - log p_g; -inf - -inf is NaN,
    # so t = 0 (D* = 0.5) where both densities vanish
    t = np.subtract(a, b, out=np.zeros_like(a), where=~both_zero)
    e = np.exp(-np.abs(t))  # in [0, 1]: never overflows
    # sigmoid(t) = 1 / (1 + e^-t) for t >= 0 and e^t / (1 + e^t) for t < 0: 1/2 exactly at t = 0
    d_star = np.where(t >= 0, 1 / (1 + e), e / (1 + e))  # eq-ch06-optimal-d
    return d_star
    ### END SOLUTION


def jensen_shannon(log_p: np.ndarray, log_q: np.ndarray, x: np.ndarray) -> float:
    """The Jensen-Shannon divergence of two 1-D densities on a grid, by the trapezoid rule.

    Exercise ``ch06-ex-js-divergence``. With ``m = (p + q) / 2`` (book equation
    ``eq-ch06-js``)::

        JS(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m)
                   = 1/2 int p log(p / m) dx + 1/2 int q log(q / m) dx

    It is symmetric, ``0`` when ``p = q`` and ``log 2`` when the supports are
    disjoint. Against the optimal discriminator of the density ``p_g`` it
    measures the value of the game: ``V(D*, G) = -log 4 + 2 JS(p_data || p_g)``
    (Goodfellow et al. 2014, Theorem 1), so the generator minimises a
    Jensen-Shannon divergence.

    Evaluate the integrand at the grid points ``x`` from the log-densities
    and integrate it by the trapezoid rule, ``sum_k (x[k+1] - x[k]) (f[k] +
    f[k+1]) / 2``, on any increasing grid (not necessarily uniform). A point
    where a density is 0 (log-density ``-inf``) contributes ``0 log 0 = 0``:
    no NaN and no warnings. Compute ``log m`` from the log-densities
    (``np.logaddexp`` helps).

    Args:
        log_p, log_q: float arrays ``(K,)``, the log-densities at ``x``,
            finite or ``-inf``.
        x: float array ``(K,)``, ``K >= 2``, strictly increasing and finite.

    Returns:
        ``JS`` in nats as a Python float, ``>= 0`` (round-off below 0 clipped to 0).

    Raises:
        ValueError: if ``x`` is not 1-D with ``K >= 2`` strictly increasing
            finite values, ``log_p`` or ``log_q`` is not of shape ``(K,)``, or
            a log-density is NaN or ``+inf``.
    """
    ### BEGIN SOLUTION
    a, b, grid = (np.asarray(v, dtype=np.float64) for v in (log_p, log_q, x))
    if grid.ndim != 1 or len(grid) < 2 or not np.all(np.isfinite(grid)):
        raise ValueError(f"x must be a 1-D finite grid of K >= 2 points, got shape {grid.shape}")
    if np.any(np.diff(grid) <= 0):
        raise ValueError("x must be strictly increasing")
    if a.shape != grid.shape or b.shape != grid.shape:
        raise ValueError(
            f"log_p {a.shape} and log_q {b.shape} must have the shape of x {grid.shape}"
        )
    if np.isnan(a).any() or np.isnan(b).any() or (a == np.inf).any() or (b == np.inf).any():
        raise ValueError("log-densities must be finite or -inf, not NaN or +inf")
    log_m = np.logaddexp(a, b) - np.log(2.0)  # (K,): log of the mixture (p + q) / 2

    def kl_integrand(log_f: np.ndarray) -> np.ndarray:
        """f log(f / m) at the grid points (K,), 0 where f = 0 (where m > 0 too)."""
        out = np.zeros_like(log_f)
        pos = log_f > -np.inf
        out[pos] = np.exp(log_f[pos]) * (log_f[pos] - log_m[pos])
        return out

    integrand = 0.5 * (kl_integrand(a) + kl_integrand(b))  # eq-ch06-js
    js = np.sum(np.diff(grid) * (integrand[1:] + integrand[:-1]) / 2)  # the trapezoid rule
    return max(float(js), 0.0)
    ### END SOLUTION


def frechet_distance_gaussians(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """The squared Fréchet distance between two Gaussians, the formula behind the FID.

    Exercise ``ch06-ex-frechet-gaussians``. For ``N(mu1, S1)`` and ``N(mu2, S2)``
    (Dowson & Landau 1982; Heusel et al. 2017; book equation ``eq-ch06-frechet``)::

        d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

    **Constraint: NumPy only**. Do not call ``scipy`` (in particular not
    ``scipy.linalg.sqrtm``), torch, or ``course_lib.evaluation`` (which
    holds the course's own version); the tests check this.

    ``S1 S2`` is not symmetric, so its square root is awkward to compute (and
    ``sqrtm`` returns complex round-off). You only need its trace, the sum of
    the square roots of the eigenvalues of ``S1 S2``. Hint: with ``A = S1^{1/2}``,
    the symmetric PSD square root of ``S1`` (from ``np.linalg.eigh``),
    ``S1 S2 = A (A S2)`` has the same eigenvalues as ``A S2 A``, which is
    symmetric PSD: ``np.linalg.eigvalsh`` gives them as real numbers.

    It must work for **singular** covariances (e.g. estimated from fewer
    samples than dimensions), without NaN or warnings: round-off leaves their
    zero eigenvalues at about ``+-1e-16`` of the largest, so treat eigenvalues
    below ``D * eps * (largest eigenvalue)`` as 0 before taking square roots.

    Args:
        mu1, mu2: float arrays ``(D,)``, ``D >= 1``.
        sigma1, sigma2: float arrays ``(D, D)``, symmetric positive
            semi-definite, finite.

    Returns:
        ``d^2`` as a Python float, ``>= 0`` (round-off below 0 clipped to 0).

    Raises:
        ValueError: if the shapes do not match ``(D,)``, ``(D, D)`` with one
            ``D``, a value is not finite, or a covariance is not symmetric
            (beyond a relative ``1e-8``).
    """
    ### BEGIN SOLUTION
    m1, s1, m2, s2 = (np.asarray(v, dtype=np.float64) for v in (mu1, sigma1, mu2, sigma2))
    d = m1.shape[0] if m1.ndim == 1 else -1
    if d < 1 or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            "expected mu1, mu2 (D,) and sigma1, sigma2 (D, D) with one D >= 1, got "
            f"{m1.shape}, {m2.shape}, {s1.shape}, {s2.shape}"
        )
    if not all(np.all(np.isfinite(v)) for v in (m1, s1, m2, s2)):
        raise ValueError("mu1, sigma1, mu2 and sigma2 must be finite")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if np.abs(s - s.T).max() > 1e-8 * np.abs(s).max():
            raise ValueError(f"{name} {s.shape} is not symmetric")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2  # exactly symmetric, for eigh
    tiny = d * np.finfo(np.float64).eps  # relative size of round-off in the eigenvalues

    w1, v1 = np.linalg.eigh(s1)  # (D,), (D, D): S1 = V diag(w) V^T
    w1 = np.where(w1 > tiny * max(w1.max(), 0.0), w1, 0.0)  # exact zeros for a singular S1
    a = (v1 * np.sqrt(w1)) @ v1.T  # (D, D): A = S1^{1/2} = V diag(sqrt w) V^T
    ev = np.linalg.eigvalsh(a @ s2 @ a)  # (D,): the eigenvalues of S1 S2, real
    ev = np.where(ev > tiny * max(ev.max(), 0.0), ev, 0.0)  # no sqrt of -1e-17
    tr_sqrt = np.sqrt(ev).sum()  # Tr (S1 S2)^{1/2}
    d2 = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt  # eq-ch06-frechet
    return max(float(d2), 0.0)
    ### END SOLUTION


def generator_sample_gradient(
    x_fake: np.ndarray,
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    *,
    non_saturating: bool = True,
    negative_slope: float = 0.2,
) -> tuple[float, np.ndarray]:
    """The generator's loss and its gradient with respect to the generated samples.

    Exercise ``ch06-ex-generator-gradient``. The discriminator is a one-hidden-layer
    MLP with a LeakyReLU (``negative_slope = 0`` makes it a ReLU)::

        u = x W1 + b1            (N, H)   pre-activations
        h = leaky_relu(u)        (N, H)   u where u > 0, negative_slope * u elsewhere
        s = h W2 + b2            (N, 1)   the logits; D(x) = sigmoid(s)

    The generator learns through ``dL/dx`` at its samples ``x = G(z)``
    (backpropagated further into ``G`` by the chain rule). Its two losses
    (Goodfellow et al. 2014, section 3), means over the ``N`` samples:

    * ``non_saturating=True``: ``L = -mean log D(x)``;
    * ``non_saturating=False``, the minimax loss: ``L = mean log(1 - D(x))``.

    Return ``L`` and ``dL/dx``. Derive them by hand (book equation
    ``eq-ch06-ns-gradient``): ``dL/ds`` is ``-(1 - D) / N`` for the
    non-saturating loss and ``-D / N`` for the minimax one, so when the
    discriminator rejects the fakes (``D -> 0``) the minimax gradient vanishes
    and the non-saturating one does not. Then backpropagate through ``W2``,
    the LeakyReLU (its derivative is 1 where ``u > 0`` and ``negative_slope``
    where ``u <= 0``, as in PyTorch) and ``W1``.

    **Constraint: NumPy only**. Do not use torch (no autograd), SciPy, or
    ``course_lib.numpy_nn``'s layers, modules and losses; the one helper
    allowed is ``log_sigmoid`` from ``course_lib.numpy_nn.functional.losses``
    (imported at the top of this file). The tests check this.

    It must be stable: finite results and no warnings for logits as large as
    ``|s| = 1e3``. Work on the logits: ``log D = log_sigmoid(s)``,
    ``log(1 - D) = log_sigmoid(-s)``, and ``1 - D = sigmoid(-s) =
    exp(log_sigmoid(-s))``.

    Args:
        x_fake: float array ``(N, D)``, ``N >= 1``, the generated samples.
        W1: ``(D, H)``; b1: ``(H,)``; W2: ``(H, 1)``; b2: ``(1,)``: the
            discriminator's parameters, as ``torch.nn.Linear(D, H)`` and
            ``Linear(H, 1)`` hold them transposed.
        non_saturating: which loss (see above).
        negative_slope: the LeakyReLU's slope for ``u <= 0``, in ``[0, 1)``.

    Returns:
        ``(loss, dx)``: a Python float and a float64 array ``(N, D)``.
        Computed in float64; the inputs are not modified.

    Raises:
        ValueError: if the shapes do not fit together as above, a value is
            not finite, or ``negative_slope`` lies outside ``[0, 1)``.
    """
    ### BEGIN SOLUTION
    x, w1, c1, w2, c2 = (np.asarray(v, dtype=np.float64) for v in (x_fake, W1, b1, W2, b2))
    if x.ndim != 2 or x.shape[0] < 1 or w1.ndim != 2 or w1.shape[0] != x.shape[1]:
        raise ValueError(
            f"x_fake must be (N, D) with N >= 1 and W1 (D, H), got {x.shape}, {w1.shape}"
        )
    hidden = w1.shape[1]
    if c1.shape != (hidden,) or w2.shape != (hidden, 1) or c2.shape != (1,):
        raise ValueError(
            f"expected b1 ({hidden},), W2 ({hidden}, 1), b2 (1,), got {c1.shape}, {w2.shape}, "
            f"{c2.shape}"
        )
    if not all(np.all(np.isfinite(v)) for v in (x, w1, c1, w2, c2)):
        raise ValueError("x_fake and the discriminator's parameters must be finite")
    if not 0 <= negative_slope < 1:
        raise ValueError(f"negative_slope must lie in [0, 1), got {negative_slope}")
    n = x.shape[0]
    u = x @ w1 + c1  # (N, H)
    h = np.where(u > 0, u, negative_slope * u)  # (N, H)
    s = (h @ w2 + c2)[:, 0]  # (N,): the logits of D
    if non_saturating:
        loss = -np.mean(log_sigmoid(s))  # -mean log D
        ds = -np.exp(log_sigmoid(-s)) / n  # (N,): -(1 - D) / N, eq-ch06-ns-gradient
    else:
        loss = np.mean(log_sigmoid(-s))  # mean log(1 - D)
        ds = -np.exp(log_sigmoid(s)) / n  # (N,): -D / N, vanishes as D -> 0
    dh = ds[:, None] * w2[:, 0]  # (N, H) = ds W2^T
    du = dh * np.where(u > 0, 1.0, negative_slope)  # (N, H): through the LeakyReLU
    dx = du @ w1.T  # (N, D)
    return float(loss), dx
    ### END SOLUTION
