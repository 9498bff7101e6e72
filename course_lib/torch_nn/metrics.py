"""Classification metrics: accuracy, confusion matrix, per-class precision, recall and F1.

Every function accepts torch tensors or NumPy arrays and returns NumPy values.
For a confusion matrix C (rows = true class, columns = predicted class):

    precision_k = C[k, k] / sum_i C[i, k]    (of the pictures called k, the share that are k)
    recall_k    = C[k, k] / sum_j C[k, j]    (of the pictures of class k, the share found)
    F1_k        = 2 precision_k recall_k / (precision_k + recall_k)

with 0/0 taken as 0 (a class never predicted has precision 0, as in
scikit-learn's ``zero_division=0``). The macro average weighs every class
equally; the weighted average weighs class k by its support sum_j C[k, j].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["accuracy", "classification_report", "confusion_matrix", "precision_recall_f1"]


def _numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, possibly on a GPU
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _labels(a: Any, name: str) -> np.ndarray:
    a = _numpy(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a vector of class indices (N,), got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    return a.astype(np.int64)


def accuracy(preds_or_logits: Any, labels: Any) -> float:
    """Share of correct predictions; logits (N, K) are turned into classes by argmax."""
    p = _numpy(preds_or_logits)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    p, y = _labels(p, "preds"), _labels(labels, "labels")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and labels {y.shape} differ in length")
    if y.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(p == y))


def confusion_matrix(preds: Any, labels: Any, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: entry [i, j] = pictures of true class i predicted as j."""
    p = _numpy(preds)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    p, y = _labels(p, "preds"), _labels(labels, "labels")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and labels {y.shape} differ in length")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    for name, a in (("preds", p), ("labels", y)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} hold values outside 0..{num_classes - 1}")
    # each pair (true i, predicted j) becomes the single index i*K + j
    flat = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)  # 0/0 -> 0
    return out


def precision_recall_f1(cm: Any) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` (float64 (K,)) and ``support`` (int64 (K,))."""
    cm = _numpy(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square (K, K), got shape {cm.shape}")
    cm = cm.astype(np.int64)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)  # column sums: how often each class was predicted
    support = cm.sum(axis=1)  # row sums: how many pictures each class has
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def averages(cm: Any) -> dict[str, dict[str, float]]:
    """``{"macro": {...}, "weighted": {...}}`` averages of precision, recall and F1."""
    m = precision_recall_f1(cm)
    w = m["support"] / max(m["support"].sum(), 1)
    keys = ("precision", "recall", "f1")
    return {
        "macro": {k: float(m[k].mean()) for k in keys},
        "weighted": {k: float((m[k] * w).sum()) for k in keys},
    }


def classification_report(cm: Any, class_names: Sequence[str], *, digits: int = 3) -> str:
    """A text table: precision, recall, F1 and support per class, then accuracy and averages."""
    cm = _numpy(cm)
    m = precision_recall_f1(cm)
    if len(class_names) != len(m["support"]):
        raise ValueError(f"{len(class_names)} class names for a {cm.shape} confusion matrix")
    width = max(12, *(len(n) for n in class_names))
    head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"
    lines = [head]
    for i, name in enumerate(class_names):
        lines.append(
            f"{name:>{width}} {m['precision'][i]:>9.{digits}f} {m['recall'][i]:>9.{digits}f} "
            f"{m['f1'][i]:>9.{digits}f} {m['support'][i]:>8d}"
        )
    total = int(m["support"].sum())
    acc = float(np.trace(cm) / total) if total else 0.0
    lines.append("")
    lines.append(f"{'accuracy':>{width}} {'':>9} {'':>9} {acc:>9.{digits}f} {total:>8d}")
    for kind, avg in averages(cm).items():
        lines.append(
            f"{kind + ' avg':>{width}} {avg['precision']:>9.{digits}f} "
            f"{avg['recall']:>9.{digits}f} {avg['f1']:>9.{digits}f} {total:>8d}"
        )
    return "\n".join(lines)
