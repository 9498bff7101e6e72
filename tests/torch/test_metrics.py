"""Metrics against hand-computed cases and an independent reference on drawn label vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib.torch_nn.metrics import (
    accuracy,
    averages,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
)

# 3 classes, 8 pictures: true 0 0 0 1 1 2 2 2, predicted 0 1 0 1 1 2 0 1
Y = [0, 0, 0, 1, 1, 2, 2, 2]
P = [0, 1, 0, 1, 1, 2, 0, 1]


def test_hand_computed_case():
    cm = confusion_matrix(P, Y, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 0], [1, 1, 1]])
    assert cm.dtype == np.int64
    assert accuracy(P, Y) == 5 / 8
    m = precision_recall_f1(cm)
    # precision: column-wise 2/3, 2/4, 1/1; recall: row-wise 2/3, 2/2, 1/3
    np.testing.assert_allclose(m["precision"], [2 / 3, 1 / 2, 1])
    np.testing.assert_allclose(m["recall"], [2 / 3, 1, 1 / 3])
    np.testing.assert_allclose(m["f1"], [2 / 3, 2 / 3, 1 / 2])
    np.testing.assert_array_equal(m["support"], [3, 2, 3])
    avg = averages(cm)
    assert avg["macro"]["f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    assert avg["weighted"]["recall"] == pytest.approx(5 / 8)  # weighted recall = accuracy


def test_accepts_torch_and_logits():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    assert accuracy(logits, y) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(confusion_matrix(logits, y, 2), [[1, 0], [1, 1]])


def test_never_predicted_class_gives_zero_not_nan():
    cm = confusion_matrix([0, 0, 0], [0, 1, 1], 3)  # class 1 never predicted, class 2 absent
    m = precision_recall_f1(cm)
    np.testing.assert_array_equal(m["precision"], [1 / 3, 0, 0])
    np.testing.assert_array_equal(m["recall"], [1, 0, 0])
    np.testing.assert_allclose(m["f1"], [0.5, 0, 0])
    assert np.all(np.isfinite(m["f1"]))


def test_report_lists_classes_and_averages():
    text = classification_report(confusion_matrix(P, Y, 3), ["cat", "dog", "bird"])
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1", "support"]
    assert lines[1].split() == ["cat", "0.667", "0.667", "0.667", "3"]
    assert lines[-3].split() == ["accuracy", "0.625", "8"]
    assert lines[-2].split()[:2] == ["macro", "avg"]
    assert lines[-1].split()[:2] == ["weighted", "avg"]


def test_bad_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="square"):
        precision_recall_f1(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class names"):
        classification_report(np.eye(3, dtype=int), ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


@st.composite
def label_vectors(draw):
    k = draw(st.integers(1, 6))
    n = draw(st.integers(1, 60))
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    preds = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return k, np.array(preds), np.array(labels)


@given(label_vectors())
def test_against_a_loop_reference(case):
    k, p, y = case
    cm = confusion_matrix(torch.from_numpy(p), y, k)
    ref = np.zeros((k, k), np.int64)
    for t, q in zip(y, p, strict=True):  # the definition, one picture at a time
        ref[t, q] += 1
    np.testing.assert_array_equal(cm, ref)
    assert cm.sum() == len(y)
    assert accuracy(p, y) == pytest.approx(np.mean(p == y))
    m = precision_recall_f1(cm)
    for c in range(k):
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0  # the same F1, written in counts
        assert m["precision"][c] == pytest.approx(prec)
        assert m["recall"][c] == pytest.approx(rec)
        assert m["f1"][c] == pytest.approx(f1)
        assert m["support"][c] == np.sum(y == c)
    avg = averages(cm)
    assert avg["weighted"]["recall"] == pytest.approx(np.mean(p == y))  # always equals accuracy
    assert avg["macro"]["f1"] == pytest.approx(np.mean(m["f1"]))
