"""Chapter 4 exercises: loss functions.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch04.py``.

Exercise ids, functions and the notebook that introduces each:

* ``ch04-ex-class-weights``: :func:`inverse_frequency_weights` (02, class imbalance)
* ``ch04-ex-focal-loss``: :func:`binary_focal_loss` (02, the focal loss and its gradient)
* ``ch04-ex-kl-gaussians``: :func:`kl_diagonal_gaussians` (04, the KL between two Gaussians)

Conventions are the book's: a batch of ``N`` examples on the first axis, every
loss a mean over the batch (or over the elements), and gradients with respect
to the first arguments, with the shapes of those arguments.
"""

from __future__ import annotations

import numpy as np

from course_lib.numpy_nn.functional.losses import log_sigmoid

__all__ = [
    "binary_focal_loss",
    "inverse_frequency_weights",
    "kl_diagonal_gaussians",
]


def inverse_frequency_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class weights inversely proportional to the class frequencies.

    Exercise ``ch04-ex-class-weights``. With ``N`` labels of which ``n_k``
    belong to class ``k``, return (book equation ``eq-ch04-class-weights``)::

        w_k = N / (K n_k)      for the classes that occur (n_k > 0),
        w_k = 0                for the classes that do not,

    ``K = num_classes``. Every class present then carries the same total
    weight ``w_k n_k = N / K``, and when all classes occur the weights of the
    labels sum to ``N``, like unweighted examples. (This is scikit-learn's
    ``class_weight="balanced"``.) Passed as ``weight=`` to a cross-entropy, they
    make the loss the unweighted mean of the per-class mean losses.

    Args:
        labels: 1-D integer array ``(N,)``, ``N >= 1``, values in ``[0, K)``.
        num_classes: ``K``, a positive int.

    Returns:
        ``w``, float64 array ``(K,)``.

    Raises:
        ValueError: if ``labels`` is not a non-empty 1-D integer array, a label
            lies outside ``[0, K)``, or ``num_classes < 1``.
    """
    ### BEGIN SOLUTION
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a non-empty 1-D integer array (N,), got {labels.dtype} {labels.shape}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise ValueError(f"num_classes must be an int, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]"
        )
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)  # (K,): n_k
    weights = np.zeros(num_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = labels.size / (num_classes * counts[present])  # eq-ch04-class-weights
    return weights
    ### END SOLUTION


def binary_focal_loss(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
) -> tuple[np.floating, np.ndarray]:
    """The focal loss of Lin et al. (2017) for binary targets, and its gradient.

    Exercise ``ch04-ex-focal-loss``. With ``p = sigmoid(z)`` for the logits
    ``z`` and binary targets ``y``, let ``p_t = p`` where ``y = 1`` and
    ``p_t = 1 - p`` where ``y = 0`` (the probability given to the right
    answer), and ``alpha_t = alpha`` where ``y = 1``, ``1 - alpha`` where
    ``y = 0`` (``alpha_t = 1`` everywhere when ``alpha is None``). The loss is
    the mean over all elements of (book equation ``eq-ch04-focal``)::

        FL = -alpha_t (1 - p_t)**gamma log(p_t)

    ``gamma = 0`` and ``alpha = None`` give the binary cross-entropy. Derive
    the gradient with respect to ``z`` yourself (the book derives
    ``d p_t / d z``) and return it divided by the number of elements.

    It must be stable: finite values and gradients, and no overflow warnings,
    for logits as large as ``|z| = 1e4``. Hint: with ``s = 2 y - 1``,
    ``p_t = sigmoid(s z)`` and ``1 - p_t = sigmoid(-s z)``; compute their
    logarithms with ``course_lib.numpy_nn.functional.losses.log_sigmoid``
    (``log sigmoid(x)`` without overflow) and exponentiate those. Do not call
    torch or the library's ``bce_with_logits_loss``.

    Args:
        logits: float array of any shape, finite.
        target: array of the same shape holding only 0 and 1 (ints, bools or floats).
        gamma: the focusing parameter, ``>= 0``.
        alpha: the weight of the positive class, in ``[0, 1]``, or ``None``.

    Returns:
        ``(loss, dlogits)``: a scalar and an array of the shape of ``logits``,
        both of the dtype of ``logits`` (float32 stays float32).

    Raises:
        ValueError: if the shapes differ, ``logits`` is empty or not finite,
            ``target`` holds anything but 0 and 1, ``gamma < 0`` or ``alpha``
            lies outside ``[0, 1]``.
    """
    ### BEGIN SOLUTION
    z, y = np.asarray(logits), np.asarray(target)
    if z.shape != y.shape:
        raise ValueError(f"target has shape {y.shape}, expected {z.shape} like logits")
    if z.size == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"logits {z.shape} must be non-empty and finite")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("target must hold only 0 and 1")
    if not gamma >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if alpha is not None and not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1] or be None, got {alpha}")
    dtype = np.result_type(z.dtype, np.float32)
    z = z.astype(dtype, copy=False)
    s = 2 * y.astype(dtype) - 1  # +1 for positives, -1 for negatives
    log_pt = log_sigmoid(s * z)  # log p_t, <= 0 and finite
    pt = np.exp(log_pt)
    one_minus_pt = np.exp(log_sigmoid(-s * z))  # 1 - p_t without cancellation
    alpha_t = np.ones_like(z) if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    modulator = one_minus_pt**gamma  # (1 - p_t)^gamma
    loss = -alpha_t * modulator * log_pt  # eq-ch04-focal
    # d p_t/dz = s p_t (1 - p_t), so
    # dFL/dz = alpha_t s (1 - p_t)^gamma (gamma p_t log p_t - (1 - p_t))
    dz = alpha_t * s * modulator * (gamma * pt * log_pt - one_minus_pt)  # eq-ch04-focal-grad
    n = dtype.type(z.size)
    return dtype.type(loss.mean()), (dz / n).astype(dtype, copy=False)
    ### END SOLUTION


def kl_diagonal_gaussians(
    mu_q: np.ndarray, logvar_q: np.ndarray, mu_p: np.ndarray, logvar_p: np.ndarray
) -> tuple[np.floating, np.ndarray, np.ndarray]:
    """``KL(q || p)`` between two diagonal Gaussians, and its gradient with respect to ``q``.

    Exercise ``ch04-ex-kl-gaussians``. ``q = N(mu_q, diag(exp(logvar_q)))`` and
    ``p = N(mu_p, diag(exp(logvar_p)))``, one pair per example. Derive the
    closed form (book equation ``eq-ch04-kl-two-gaussians``; the book derives
    the special case ``p = N(0, I)``): per example, summed over the ``D``
    dimensions,

        KL_n = 1/2 sum_j [ logvar_p - logvar_q
                           + (exp(logvar_q) + (mu_q - mu_p)**2) / exp(logvar_p) - 1 ]

    and return its **mean over the batch** together with its gradients with
    respect to ``mu_q`` and ``logvar_q`` (also divided by ``N``). It is
    ``>= 0``, ``0`` exactly when ``q = p``, and not symmetric.

    Args:
        mu_q, logvar_q, mu_p, logvar_p: float arrays ``(N, D)`` of one shape, finite.

    Returns:
        ``(kl, dmu_q, dlogvar_q)``: a scalar and two ``(N, D)`` arrays, in the
        dtype of ``mu_q``.

    Raises:
        ValueError: if the four arrays are not 2-D of one shape, or contain
            NaN or infinite values.
    """
    ### BEGIN SOLUTION
    arrays = [np.asarray(a) for a in (mu_q, logvar_q, mu_p, logvar_p)]
    shapes = [a.shape for a in arrays]
    if arrays[0].ndim != 2 or any(s != shapes[0] for s in shapes):
        raise ValueError(
            f"mu_q, logvar_q, mu_p, logvar_p must be (N, D) of one shape, got {shapes}"
        )
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("mu_q, logvar_q, mu_p and logvar_p must be finite")
    dtype = np.result_type(arrays[0].dtype, np.float32)
    mq, lq, mp, lp = (a.astype(dtype, copy=False) for a in arrays)
    n = dtype.type(mq.shape[0])
    inv_var_p = np.exp(-lp)  # 1 / sigma_p^2
    diff = mq - mp
    kl = (
        0.5 * np.sum(lp - lq + (np.exp(lq) + diff**2) * inv_var_p - 1) / n
    )  # eq-ch04-kl-two-gaussians
    dmu_q = diff * inv_var_p / n
    dlogvar_q = 0.5 * (np.exp(lq - lp) - 1) / n
    return dtype.type(kl), dmu_q, dlogvar_q
    ### END SOLUTION
