"""Loss functions: ``loss, dpred = *_loss(pred, target)``, the loss and its gradient.

A loss ends the forward pass and starts the backward one, so each function
returns both the loss and the gradient of that loss with respect to its first
(floating-point) argument, ready to hand to the last layer's backward. Every
loss is a **mean** (the reduction ``"mean"`` of ``torch.nn.functional``), and
each matches its torch counterpart in value and gradient. Chapter 4 derives
them (equation labels ``eq-ch04-*``); Chapter 2 uses the cross-entropy to train
an MLP. The style and TV losses are in ``style``.

Inputs are checked (:mod:`course_lib.numpy_nn._validate`): ``pred`` and
``target`` must be real arrays (complex and string arrays are refused; bool
and int ones are numbers) of exactly the same shape (no broadcasting),
non-empty and finite; labels must be integers in range; probabilities and
binary targets must lie in ``[0, 1]``; settings must be real numbers.
"""

from __future__ import annotations

import numpy as np

from course_lib.numpy_nn._validate import (
    InputTypeError,
    as_array,
    as_input,
    as_real,
    as_same_shape,
    check_batch_axis,
    check_exp_range,
    check_ndim,
    check_nonempty,
    check_shape,
    check_unit_interval,
    float_dtype,
)
from course_lib.numpy_nn.functional.activations import sigmoid_forward
from course_lib.numpy_nn.functional.softmax import log_softmax_forward

__all__ = [
    "bce_loss",
    "bce_with_logits_loss",
    "cross_entropy_loss",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "gaussian_kl",
    "huber_loss",
    "l1_loss",
    "log_sigmoid",
    "mse_loss",
]

Loss = tuple[np.floating, np.ndarray]


def mse_loss(pred: np.ndarray, target: np.ndarray) -> Loss:
    """Mean squared error ``mean((pred - target)**2)`` (eq-ch04-mse) and its gradient.

    ``pred`` and ``target`` of one shape, any rank. Returns ``(loss, dpred)``,
    ``dpred = 2 (pred - target) / pred.size``. The negative log-likelihood of a
    Gaussian with fixed variance, up to constants. Matches ``F.mse_loss``.
    """
    pred, target = as_same_shape(pred, target, ("pred", "target"))
    diff = pred - target
    return pred.dtype.type(np.mean(diff * diff)), 2 * diff / pred.dtype.type(pred.size)


def l1_loss(pred: np.ndarray, target: np.ndarray) -> Loss:
    """Mean absolute error ``mean(|pred - target|)`` (eq-ch04-mae) and its gradient.

    Returns ``(loss, dpred)``, ``dpred = sign(pred - target) / pred.size``; at a
    tie the subgradient 0 is used, as torch does. The negative log-likelihood of
    a Laplace distribution, up to constants. Matches ``F.l1_loss``.
    """
    pred, target = as_same_shape(pred, target, ("pred", "target"))
    diff = pred - target
    return pred.dtype.type(np.mean(np.abs(diff))), np.sign(diff) / pred.dtype.type(pred.size)


def huber_loss(pred: np.ndarray, target: np.ndarray, *, delta: float = 1.0) -> Loss:
    """Mean Huber loss (eq-ch04-huber) and its gradient; ``delta > 0``.

    With ``d = pred - target``: ``d**2 / 2`` where ``|d| <= delta`` and
    ``delta * (|d| - delta / 2)`` elsewhere, quadratic near 0 and linear in the
    tails (Huber 1964). ``dpred = clip(d, -delta, delta) / pred.size``.
    Matches ``F.huber_loss(pred, target, delta=delta)``; ``F.smooth_l1_loss``
    with ``beta`` is this loss divided by ``beta``.
    """
    delta = as_real(delta, "delta")
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    pred, target = as_same_shape(pred, target, ("pred", "target"))
    d = pred - target
    a = np.abs(d)
    elementwise = np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    dpred = np.clip(d, -delta, delta) / pred.dtype.type(pred.size)
    return pred.dtype.type(np.mean(elementwise)), dpred.astype(pred.dtype, copy=False)


def bce_loss(probs: np.ndarray, target: np.ndarray) -> Loss:
    """Mean binary cross-entropy of probabilities (eq-ch04-bce) and its gradient.

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p = probs``, ``y = target``,
    both in ``[0, 1]`` and of one shape. As in torch, each logarithm is clamped
    at -100 so that ``p = 0`` or ``1`` gives a finite loss, and the gradient
    ``(p - y) / (p (1 - p)) / n`` has its denominator clamped at 1e-12.
    Matches ``F.binary_cross_entropy``. Prefer :func:`bce_with_logits_loss`:
    a sigmoid followed by this loss loses precision for large logits.
    """
    p, y = as_same_shape(probs, target, ("probs", "target"))
    check_unit_interval(p, "probs")
    check_unit_interval(y, "target")
    # log p and log(1 - p), -100 where the argument is 0 (no divide-by-zero warning)
    log_p = np.maximum(np.log(p, out=np.full_like(p, -100.0), where=p > 0), -100.0)
    q = 1 - p
    log_q = np.maximum(np.log(q, out=np.full_like(q, -100.0), where=q > 0), -100.0)
    loss = -np.mean(y * log_p + (1 - y) * log_q)
    # torch's clamp EPSILON is the float32 nearest 1e-12 (9.99999996e-13): used as is, to match
    dprobs = (p - y) / np.maximum(p * q, float(np.float32(1e-12))) / p.dtype.type(p.size)
    return p.dtype.type(loss), dprobs.astype(p.dtype, copy=False)


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """``log sigmoid(z) = -softplus(-z) = min(z, 0) - log1p(exp(-|z|))``, stable for any z.

    The exponent is never positive, so nothing overflows (eq-ch04-log-sigmoid).
    ``z`` must be real, finite and non-empty; bool and int arrays give float64.
    """
    z = as_input(z, "z")
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow: Chapter 3's stable sigmoid."""
    return sigmoid_forward(z)[0]


def bce_with_logits_loss(
    logits: np.ndarray, target: np.ndarray, *, pos_weight: np.ndarray | None = None
) -> Loss:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``target``, and its gradient.

    Stable for any finite logits (tested to ``|z| = 1e4``): with ``z = logits``,
    ``y = target`` in ``[0, 1]``, each element is (eq-ch04-bce-logits)::

        max(z, 0) - z y + log1p(exp(-|z|))        = softplus(z) - z y

    and the gradient is ``(sigmoid(z) - y) / n`` (eq-ch04-bce-grad), ``n`` the
    number of elements. ``pos_weight`` (C,), one factor per class along the
    last axis (or the shape of ``logits``), multiplies the positive term:
    ``(1 - y) z + (1 + (pos_weight - 1) y) softplus(-z)``, as in
    ``F.binary_cross_entropy_with_logits(..., pos_weight=...)``, which this matches.
    """
    z, y = as_same_shape(logits, target, ("logits", "target"))
    check_unit_interval(y, "target")
    softplus_neg = -log_sigmoid(z)  # softplus(-z) = -log sigmoid(z), >= 0
    if pos_weight is None:
        loss = (1 - y) * z + softplus_neg  # eq-ch04-bce-logits, = softplus(z) - z y
        dz = _sigmoid(z) - y  # eq-ch04-bce-grad
    else:
        pw = as_array(pos_weight, "pos_weight")
        if pw.shape not in (z.shape[-1:], z.shape):
            raise ValueError(
                f"pos_weight has shape {pw.shape}, expected {z.shape[-1:]} (one per class "
                f"along the last axis) or {z.shape} for logits {z.shape}"
            )
        pw = as_input(pw, "pos_weight", dtype=z.dtype)
        if pw.min() < 0:
            raise ValueError(f"pos_weight must be non-negative, got minimum {pw.min()}")
        lw = 1 + (pw - 1) * y  # the weight of softplus(-z); broadcasts along the last axis
        loss = (1 - y) * z + lw * softplus_neg
        dz = (1 - y) - lw * _sigmoid(-z)  # d softplus(-z)/dz = -sigmoid(-z)
    n = z.dtype.type(z.size)
    return z.dtype.type(np.mean(loss)), (dz / n).astype(z.dtype, copy=False)


def _as_labels(labels: object, logits_shape: tuple[int, int]) -> np.ndarray:
    """``labels`` (N,) as an integer array of class indices in ``[0, K)``, for logits (N, K).

    Only integer dtypes: a float label (even ``1.0``) or a bool is a mistake
    somewhere upstream, and a string label is not a class index.
    """
    n, k = logits_shape
    labels = as_array(labels, "labels", expected=f"integer class labels ({n},) in [0, {k})")
    if labels.shape != (n,):
        raise ValueError(
            f"labels has shape {labels.shape}, expected ({n},) for logits {logits_shape}"
        )
    if labels.dtype.kind not in "iu":
        raise InputTypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(
            f"labels must lie in [0, {k}) for logits {logits_shape}, "
            f"got values in [{labels.min()}, {labels.max()}]"
        )
    return labels


def cross_entropy_loss(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    label_smoothing: float = 0.0,
) -> Loss:
    """Mean softmax cross-entropy of integer class labels, and its gradient.

    ``logits`` (N, K) real scores, ``labels`` (N,) integers in ``[0, K)``.
    Returns ``(loss, dlogits)``: the scalar ``-mean_n log softmax(logits_n)[labels_n]``
    (eq-ch04-ce) in the dtype of ``logits``, and ``dlogits`` (N, K)
    ``= (softmax(logits) - onehot) / N`` (eq-ch04-ce-grad).

    ``weight`` (K,), non-negative per-class weights: each example counts with
    the weight ``w[y_n]`` of its class and the mean is taken over those weights,
    ``sum_n w[y_n] l_n / sum_n w[y_n]`` (eq-ch04-weighted-ce), as in
    ``F.cross_entropy(weight=...)``. ``label_smoothing`` in ``[0, 1]`` mixes the
    one-hot target with the uniform distribution, ``(1 - eps) onehot + eps / K``,
    with torch's normalisation when both are given. Matches ``F.cross_entropy``.

    Stable for any finite logits: log-softmax through the log-sum-exp with the
    row maximum subtracted, ``log p = z - max z - log sum exp(z - max z)``, so
    nothing overflows (logits of 1e4 give a finite loss and gradient).
    """
    z = as_array(logits, "logits")
    check_ndim(z, 2, "logits", "(N, K)")
    check_nonempty(z, "logits", "(N, K)")
    n, k = z.shape
    labels = _as_labels(labels, z.shape)
    label_smoothing = as_real(label_smoothing, "label_smoothing")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    dtype = float_dtype(z)
    z = as_input(z, "logits", dtype=dtype, layout="(N, K)")
    # log-softmax through the log-sum-exp with the row maximum subtracted (Chapter 3)
    log_probs, _ = log_softmax_forward(z, axis=1)  # (N, K)
    probs = np.exp(log_probs)  # softmax, (N, K)
    rows = np.arange(n)
    if weight is None:
        w = np.ones(k, dtype=dtype)
    else:
        w = as_array(weight, "weight")
        check_shape(w, (k,), "weight", f"one weight per class of logits {z.shape}")
        w = as_input(w, "weight", dtype=dtype)
        if w.min() < 0:
            raise ValueError(f"weight must be non-negative, got minimum {w.min()}")
    w_n = w[labels]  # (N,): each example's weight
    total = w_n.sum()
    if not total > 0:
        raise ValueError("the class weights of the labels sum to 0: the weighted mean is undefined")
    eps = dtype.type(label_smoothing)
    # (1 - eps) * sum_n w[y_n] (-log p[n, y_n]) / total: the (weighted) NLL term
    loss = -(1 - eps) * np.sum(w_n * log_probs[rows, labels]) / total
    dlogits = (1 - eps) * w_n[:, None] * probs  # (N, K)
    dlogits[rows, labels] -= (1 - eps) * w_n  # w[y_n] (softmax - onehot)
    if label_smoothing > 0:
        # eps / K * sum_n sum_j w_j (-log p[n, j]) / total, torch's smoothing term
        loss = loss - eps / k * np.sum(log_probs * w) / total
        dlogits += eps / k * (w.sum() * probs - w)  # (N, K): d/dz of sum_j w_j (-log p_j)
    return dtype.type(loss), (dlogits / total).astype(dtype, copy=False)


def gaussian_kl(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.floating, np.ndarray, np.ndarray]:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` in closed form, and its gradients.

    ``mu`` and ``logvar`` (N, D) (or (N, ...): every axis after the first is a
    latent dimension). Per example (Kingma & Welling 2014, appendix B;
    eq-ch04-gaussian-kl)::

        KL_n = 1/2 sum_j (mu_j**2 + exp(logvar_j) - 1 - logvar_j)

    summed over the latent dimensions and **averaged over the batch**, the VAE's
    regulariser. Returns ``(kl, dmu, dlogvar)`` with ``dmu = mu / N`` and
    ``dlogvar = (exp(logvar) - 1) / (2 N)`` (eq-ch04-gaussian-kl-grad).
    Matches ``torch.distributions.kl_divergence(Normal(mu, exp(logvar / 2)),
    Normal(0, 1)).sum(latent axes).mean()``. ``logvar`` must stay below about
    700 (float64) or 88 (float32), where ``exp`` overflows.
    """
    mu, logvar = as_same_shape(mu, logvar, ("mu", "logvar"))
    check_batch_axis(mu, "mu")
    check_exp_range(logvar, "logvar")
    n = mu.dtype.type(mu.shape[0])
    var = np.exp(logvar)
    kl = 0.5 * np.sum(mu * mu + var - 1 - logvar) / n  # eq-ch04-gaussian-kl
    return mu.dtype.type(kl), mu / n, (0.5 * (var - 1) / n).astype(mu.dtype, copy=False)


# --------------------------------------------------------------------------- GAN losses
# The discriminator outputs a logit z and D = sigmoid(z) is its belief that the
# input is real (Goodfellow et al. 2014). On logits every GAN loss is a binary
# cross-entropy, computed stably by bce_with_logits_loss (eq-ch04-gan-*).


def _gan_logits(z: object, name: str) -> np.ndarray:
    """Discriminator logits, any shape: real, finite, non-empty (checked here to name them)."""
    return as_input(z, name)


def gan_discriminator_loss(
    real_logits: np.ndarray, fake_logits: np.ndarray
) -> tuple[np.floating, np.ndarray, np.ndarray]:
    """The discriminator's loss ``-mean log D(x) - mean log(1 - D(G(z)))`` (eq-ch04-gan-d).

    ``real_logits`` (any shape, e.g. (N,) or (N, 1)) on real images and
    ``fake_logits`` (any shape, e.g. (M,)) on generated ones; the two batches
    may differ in size, and each term is a mean over its own batch. Minimising
    it maximises the discriminator's side of the value function
    ``E log D(x) + E log(1 - D(G(z)))``: it is the binary cross-entropy with
    target 1 for real and 0 for fake, the sum of two means (as in the
    PyTorch DCGAN example, ``errD = errD_real + errD_fake``).

    Returns ``(loss, dreal, dfake)`` with ``dreal = (D(x) - 1) / N`` and
    ``dfake = D(G(z)) / M``.
    """
    real, fake = _gan_logits(real_logits, "real_logits"), _gan_logits(fake_logits, "fake_logits")
    loss_real, dreal = bce_with_logits_loss(real, np.ones(real.shape, dtype=real.dtype))
    loss_fake, dfake = bce_with_logits_loss(fake, np.zeros(fake.shape, dtype=fake.dtype))
    return loss_real + loss_fake, dreal, dfake


def gan_generator_loss(
    fake_logits: np.ndarray, *, non_saturating: bool = True
) -> tuple[np.floating, np.ndarray]:
    """The generator's loss on the discriminator's logits for generated images.

    ``non_saturating=True`` (the default, what everyone trains with):
    ``-mean log D(G(z))`` (eq-ch04-gan-g-ns), the BCE with target 1, whose
    gradient ``(D - 1) / M`` tends to ``-1 / M`` when the discriminator
    rejects the fakes (``D -> 0``). ``non_saturating=False``: the minimax form
    ``mean log(1 - D(G(z)))`` (eq-ch04-gan-g-minimax), minus the BCE with
    target 0, whose gradient ``-D / M`` vanishes as ``D -> 0``: the generator
    learns nothing exactly when it is worst (Goodfellow et al. 2014, section 3).

    Returns ``(loss, dfake)``, a mean over the ``M`` elements of ``fake_logits``.
    """
    fake = _gan_logits(fake_logits, "fake_logits")
    if non_saturating:
        return bce_with_logits_loss(fake, np.ones(fake.shape, dtype=fake.dtype))
    loss, dfake = bce_with_logits_loss(fake, np.zeros(fake.shape, dtype=fake.dtype))
    return -loss, -dfake
