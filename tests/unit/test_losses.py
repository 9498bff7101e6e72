"""cross_entropy_loss against torch in float64, on hypothesis-drawn logits including extremes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from course_lib.numpy_nn.functional import cross_entropy_loss
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error


@st.composite
def logits_and_labels(draw, max_scale: float = 1e4):
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([s for s in (1e-3, 1.0, 3.0, 30.0, 1e3, 1e4) if s <= max_scale]))
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=(n, k)), rng.integers(0, k, size=n)


def _torch(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    z = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(z, torch.from_numpy(labels))
    loss.backward()
    return loss.item(), z.grad.numpy()


@given(logits_and_labels())
def test_matches_torch_float64_without_warnings(case) -> None:
    logits, labels = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or divide warnings, even at 1e4
        loss, dlogits = cross_entropy_loss(logits, labels)
    expected_loss, expected_grad = _torch(logits, labels)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    assert abs(loss - expected_loss) <= 1e-12 * max(1.0, abs(expected_loss))
    assert np.abs(dlogits - expected_grad).max() <= 1e-15 + 1e-12 * np.abs(expected_grad).max()


@given(logits_and_labels(max_scale=3.0))
def test_gradient_matches_central_differences(case) -> None:
    logits, labels = case
    _, dlogits = cross_entropy_loss(logits, labels)
    numeric = numerical_gradient(lambda z: cross_entropy_loss(z, labels)[0], logits.copy())
    assert np.abs(dlogits - numeric).max() < 1e-8


def test_float32_stays_float32_and_inputs_are_not_mutated() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 5)).astype(np.float32)
    labels = np.array([0, 4, 2, 2])
    before = (logits.copy(), labels.copy())
    loss, dlogits = cross_entropy_loss(logits, labels)
    assert loss.dtype == np.float32 and dlogits.dtype == np.float32
    np.testing.assert_array_equal(logits, before[0])
    np.testing.assert_array_equal(labels, before[1])
    expected_loss, expected_grad = _torch(logits.astype(np.float64), labels)
    assert rel_error(np.array(loss, dtype=np.float64), np.array(expected_loss)) < 1e-6
    assert np.abs(dlogits - expected_grad).max() < 1e-6


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        (np.zeros(3), np.array([0]), r"2-D \(N, K\), got shape \(3,\)"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), r"labels has shape \(3,\), expected \(2,\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "labels must be integers"),
        (np.zeros((2, 3)), np.array([0, 3]), r"\[0, 3\) for logits \(2, 3\)"),
        (np.zeros((2, 3)), np.array([-1, 0]), r"got values in \[-1, 0\]"),
    ],
)
def test_bad_input_raises_value_error_naming_shapes(logits, labels, match) -> None:
    with pytest.raises(ValueError, match=match):
        cross_entropy_loss(logits, labels)
