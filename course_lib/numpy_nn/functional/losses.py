"""Loss functions: ``loss, dpred = *_loss(pred, target)``, the loss and its gradient.

A loss ends the forward pass and starts the backward one, so each function
returns both the (mean) loss and the gradient of that loss with respect to
its first argument, ready to hand to the last layer's backward.
Chapter 4 derives them; Chapter 2 uses the cross-entropy to train an MLP.
"""

from __future__ import annotations

import numpy as np

from course_lib.numpy_nn._validate import check_ndim, float_dtype

__all__ = [
    "cross_entropy_loss",
]


def cross_entropy_loss(logits: np.ndarray, labels: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Mean softmax cross-entropy of integer class labels, and its gradient.

    ``logits`` (N, K) real scores, ``labels`` (N,) integers in ``[0, K)``.
    Returns ``(loss, dlogits)``: the scalar ``-mean_n log softmax(logits_n)[labels_n]``
    in the dtype of ``logits``, and ``dlogits`` (N, K) ``= (softmax(logits) - onehot) / N``.

    Stable for any finite logits: log-softmax through the log-sum-exp with the
    row maximum subtracted, ``log p = z - max z - log sum exp(z - max z)``, so
    nothing overflows (logits of 1e4 give a finite loss and gradient).
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    check_ndim(logits, 2, "logits", "(N, K)")
    dtype = float_dtype(logits)
    n, k = logits.shape
    if labels.shape != (n,):
        raise ValueError(
            f"labels has shape {labels.shape}, expected ({n},) for logits {logits.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if n == 0 or k == 0:
        raise ValueError(f"logits must be non-empty, got shape {logits.shape}")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(
            f"labels must lie in [0, {k}) for logits {logits.shape}, "
            f"got values in [{labels.min()}, {labels.max()}]"
        )
    z = logits.astype(dtype, copy=False)
    shifted = z - z.max(axis=1, keepdims=True)  # (N, K), every row's max is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, K)
    rows = np.arange(n)
    loss = -log_probs[rows, labels].mean()
    dlogits = np.exp(log_probs)  # softmax, (N, K)
    dlogits[rows, labels] -= 1  # softmax - onehot
    return dtype.type(loss), dlogits / dtype.type(n)
