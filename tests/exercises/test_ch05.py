"""Graded tests of the Chapter 5 exercises (course_lib/exercises/ch05.py).

Each test carries its points and exercise id. The references are independent
of the code under test: networks built in ``torch.nn`` for the layer table,
counting and brute-force search for the class weights and the shifts, and
per-example counts of true/false positives for the F1 score. Only NumPy,
PyTorch and pytest are needed, so the tests run in the grading environment.
The tests between the HIDDEN TESTS markers are left out of the student edition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.exercises import ch05

pytestmark = pytest.mark.ch05

TABLE = "ch05-ex-layer-table"
WEIGHTS = "ch05-ex-class-weights"
SHIFT = "ch05-ex-random-shift"
F1 = "ch05-ex-macro-f1"


# --------------------------------------------------------------------------- references


def _torch_layers(spec: list[dict], in_channels: int) -> list[torch.nn.Module]:
    """The spec as torch.nn modules (LazyLinear finds its input size on the first call)."""
    layers, c = [], in_channels
    for layer in spec:
        kind = layer["type"]
        if kind == "conv":
            f = layer["out_channels"]
            layers.append(
                torch.nn.Conv2d(c, f, layer["kernel_size"], stride=layer.get("stride", 1),
                                padding=layer.get("padding", 0), bias=layer.get("bias", True))
            )  # fmt: skip
            c = f
        elif kind == "maxpool":
            layers.append(torch.nn.MaxPool2d(layer["kernel_size"], layer.get("stride")))
        elif kind == "relu":
            layers.append(torch.nn.ReLU())
        elif kind == "flatten":
            layers.append(torch.nn.Flatten())
        elif kind == "linear":
            layers.append(torch.nn.LazyLinear(layer["out_features"], bias=layer.get("bias", True)))
    return layers


def _torch_table(spec: list[dict], input_shape: tuple[int, int, int]) -> list:
    x = torch.zeros(1, *input_shape)
    table = []
    with torch.no_grad():
        for module in _torch_layers(spec, input_shape[0]):
            x = module(x)
            n = sum(p.numel() for p in module.parameters())
            table.append((tuple(x.shape[1:]), n))
    return table


def _check_table(spec: list[dict], input_shape: tuple[int, int, int]) -> None:
    got = ch05.layer_table(spec, input_shape)
    expected = _torch_table(spec, input_shape)
    assert len(got) == len(expected), f"{len(got)} rows for {len(spec)} layers"
    for i, ((shape, n), (t_shape, t_n)) in enumerate(zip(got, expected, strict=True)):
        assert tuple(shape) == t_shape, f"layer {i} ({spec[i]['type']}): shape {shape} != {t_shape}"
        assert n == t_n, f"layer {i} ({spec[i]['type']}): {n} parameters, torch has {t_n}"


SIMPLE_CNN = [
    {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 2},
    {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 2},
    {"type": "flatten"},
    {"type": "linear", "out_features": 10},
]


def _f1_from_predictions(labels: np.ndarray, preds: np.ndarray, k: int) -> float:
    """Macro-F1 by counting, per class, over the examples (no confusion matrix)."""
    scores = []
    for c in range(k):
        tp = int(np.sum((preds == c) & (labels == c)))
        fp = int(np.sum((preds == c) & (labels != c)))
        fn = int(np.sum((preds != c) & (labels == c)))
        # F1 = 2 TP / (2 TP + FP + FN): the harmonic mean of P and R, written without them
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / k


def _confusion(labels: np.ndarray, preds: np.ndarray, k: int) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(labels, preds, strict=True):
        cm[t, p] += 1
    return cm


def _find_shift(original: np.ndarray, shifted: np.ndarray, max_shift: int) -> tuple[int, int]:
    """The (dy, dx) that turns ``original`` into ``shifted``, by trying every one."""
    h, w = original.shape
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            expected = np.zeros_like(original)
            for i in range(h):
                for j in range(w):
                    if 0 <= i - dy < h and 0 <= j - dx < w:
                        expected[i, j] = original[i - dy, j - dx]
            if np.array_equal(expected, shifted):
                return dy, dx
    raise AssertionError(f"the output is not the input shifted by at most {max_shift} pixels")


# --------------------------------------------------------------------------- layer table


@pytest.mark.points(2)
@pytest.mark.exercise(TABLE)
def test_layer_table_of_the_simple_cnn() -> None:
    _check_table(SIMPLE_CNN, (1, 28, 28))
    total = sum(n for _, n in ch05.layer_table(SIMPLE_CNN, (1, 28, 28)))
    assert total == 80 + 1168 + 7850


@pytest.mark.points(2)
@pytest.mark.exercise(TABLE)
def test_layer_table_with_strides_odd_sizes_and_no_bias() -> None:
    spec = [
        {"type": "conv", "out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 2},
        {"type": "relu"},
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 3, "bias": False},
        {"type": "maxpool", "kernel_size": 2, "stride": 1},
        {"type": "flatten"},
        {"type": "linear", "out_features": 7, "bias": False},
        {"type": "relu"},
        {"type": "linear", "out_features": 3},
    ]
    _check_table(spec, (3, 31, 29))


@pytest.mark.points(1)
@pytest.mark.exercise(TABLE)
def test_layer_table_pooling_rounds_down() -> None:
    spec = [{"type": "maxpool", "kernel_size": 2}, {"type": "maxpool", "kernel_size": 3}]
    _check_table(spec, (2, 7, 9))
    assert [tuple(s) for s, _ in ch05.layer_table(spec, (2, 7, 9))] == [(2, 3, 4), (2, 1, 1)]


@pytest.mark.points(1)
@pytest.mark.exercise(TABLE)
def test_layer_table_errors() -> None:
    with pytest.raises(ValueError):
        ch05.layer_table([{"type": "conv", "out_channels": 2, "kernel_size": 5}], (1, 4, 4))
    with pytest.raises(ValueError):
        ch05.layer_table([{"type": "linear", "out_features": 2}], (1, 4, 4))  # not flat
    with pytest.raises(ValueError):
        ch05.layer_table([{"type": "dropout"}], (1, 4, 4))


# --------------------------------------------------------------------------- class weights


@pytest.mark.points(2)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_balance_the_classes() -> None:
    labels = np.repeat(np.arange(4), [500, 100, 20, 5])
    np.random.default_rng(0).shuffle(labels)
    w = ch05.balanced_class_weights(labels, 4)
    assert w.shape == (4,) and w.dtype == np.float64
    counts = np.array([500, 100, 20, 5])
    expected = len(labels) / (4 * counts)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    per_class_total = np.array([w[labels][labels == k].sum() for k in range(4)])
    np.testing.assert_allclose(per_class_total, len(labels) / 4)  # each class weighs N / K


@pytest.mark.points(1)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_of_balanced_labels_are_one() -> None:
    labels = np.tile(np.arange(10), 30)
    np.testing.assert_allclose(ch05.balanced_class_weights(labels, 10), np.ones(10))


@pytest.mark.points(2)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_with_an_absent_class_and_the_weighted_loss() -> None:
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 1, 3], size=300, p=[0.7, 0.2, 0.1])  # class 2 never occurs
    w = ch05.balanced_class_weights(labels, 4)
    assert w[2] == 0.0
    sample_w = w[labels]
    assert math.isclose(sample_w.sum(), len(labels), rel_tol=1e-12)  # the loss keeps its scale
    # the weighted cross-entropy of torch with these weights gives each present class
    # the same share of the total weight
    for k in (0, 1, 3):
        assert math.isclose(sample_w[labels == k].sum(), len(labels) / 3, rel_tol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_errors() -> None:
    with pytest.raises(ValueError):
        ch05.balanced_class_weights(np.array([0, 1, 5]), 3)
    with pytest.raises(ValueError):
        ch05.balanced_class_weights(np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError):
        ch05.balanced_class_weights(np.array([], dtype=np.int64), 2)


# --------------------------------------------------------------------------- random shift


def _busy_images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 images without zeros, so that the zero fill shows where the shift moved them."""
    return np.random.default_rng(seed).integers(1, 256, size=(n, h, w), dtype=np.uint8)


@pytest.mark.points(2)
@pytest.mark.exercise(SHIFT)
def test_random_shift_moves_each_image_by_at_most_max_shift() -> None:
    images = _busy_images(12, 7, 6)
    before = images.copy()
    out = ch05.random_shift(images, 2, np.random.default_rng(3))
    assert out.shape == images.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(images, before)  # not modified
    for original, shifted in zip(images, out, strict=True):
        _find_shift(original, shifted, 2)


@pytest.mark.points(2)
@pytest.mark.exercise(SHIFT)
def test_random_shift_draws_the_documented_shifts() -> None:
    images = _busy_images(8, 9, 9, seed=1)
    out = ch05.random_shift(images, 3, np.random.default_rng(7))
    draws = np.random.default_rng(7)
    for original, shifted in zip(images, out, strict=True):
        dy, dx = draws.integers(-3, 4, size=2)
        assert _find_shift(original, shifted, 3) == (dy, dx)


@pytest.mark.points(1)
@pytest.mark.exercise(SHIFT)
def test_random_shift_zero_is_a_copy_and_errors() -> None:
    images = _busy_images(3, 5, 5).astype(np.float32)
    out = ch05.random_shift(images, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, images)
    assert out.dtype == np.float32 and out is not images
    with pytest.raises(ValueError):
        ch05.random_shift(images[0], 1, np.random.default_rng(0))
    with pytest.raises(ValueError):
        ch05.random_shift(images, -1, np.random.default_rng(0))


# --------------------------------------------------------------------------- macro-F1


@pytest.mark.points(2)
@pytest.mark.exercise(F1)
def test_macro_f1_against_per_example_counts() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=400)
    preds = np.where(rng.random(400) < 0.7, labels, rng.integers(0, 5, size=400))
    got = ch05.macro_f1(_confusion(labels, preds, 5))
    assert isinstance(got, float)
    assert math.isclose(got, _f1_from_predictions(labels, preds, 5), rel_tol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(F1)
def test_macro_f1_hand_example() -> None:
    # class 0: P = 2/3, R = 1, F1 = 0.8; class 1: P = 1, R = 1/2, F1 = 2/3
    cm = np.array([[2, 0], [1, 1]])
    assert math.isclose(ch05.macro_f1(cm), (0.8 + 2 / 3) / 2, rel_tol=1e-12)
    assert ch05.macro_f1(np.diag([3, 5, 1])) == 1.0


@pytest.mark.points(2)
@pytest.mark.exercise(F1)
def test_macro_f1_zero_division_counts_as_zero() -> None:
    # class 2 never occurs and is never predicted; class 1 is never predicted
    labels = np.array([0, 0, 1, 1, 0, 3, 3])
    preds = np.array([0, 0, 0, 0, 0, 3, 0])
    got = ch05.macro_f1(_confusion(labels, preds, 4))
    assert math.isclose(got, _f1_from_predictions(labels, preds, 4), rel_tol=1e-12)
    assert not math.isnan(got)


@pytest.mark.points(1)
@pytest.mark.exercise(F1)
def test_macro_f1_errors() -> None:
    with pytest.raises(ValueError):
        ch05.macro_f1(np.ones((2, 3)))
    with pytest.raises(ValueError):
        ch05.macro_f1(np.array([[1, -1], [0, 2]]))


### BEGIN HIDDEN TESTS


@pytest.mark.points(2)
@pytest.mark.exercise(TABLE)
def test_hidden_layer_table_random_specs() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        spec, side = [], int(rng.integers(12, 40))
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(1, 5))
            spec.append({"type": "conv", "out_channels": int(rng.integers(1, 9)), "kernel_size": k,
                         "stride": int(rng.integers(1, 3)), "padding": int(rng.integers(0, 3)),
                         "bias": bool(rng.integers(0, 2))})  # fmt: skip
            spec.append({"type": "relu"})
            if rng.random() < 0.5:
                spec.append({"type": "maxpool", "kernel_size": 2})
        spec += [{"type": "flatten"}, {"type": "linear", "out_features": int(rng.integers(2, 11))}]
        try:
            expected = _torch_table(spec, (2, side, side))
        except RuntimeError:  # the random net shrank the image to nothing: torch refuses too
            with pytest.raises(ValueError):
                ch05.layer_table(spec, (2, side, side))
            continue
        got = [(tuple(s), n) for s, n in ch05.layer_table(spec, (2, side, side))]
        assert got == expected


@pytest.mark.points(1)
@pytest.mark.exercise(WEIGHTS)
def test_hidden_class_weights_single_class() -> None:
    np.testing.assert_allclose(ch05.balanced_class_weights(np.full(7, 2), 3), [0.0, 0.0, 1.0])


@pytest.mark.points(1)
@pytest.mark.exercise(SHIFT)
def test_hidden_random_shift_uses_every_shift() -> None:
    images = _busy_images(300, 4, 4, seed=5)
    out = ch05.random_shift(images, 1, np.random.default_rng(2))
    seen = {_find_shift(a, b, 1) for a, b in zip(images, out, strict=True)}
    assert seen == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


@pytest.mark.points(1)
@pytest.mark.exercise(F1)
def test_hidden_macro_f1_imbalanced() -> None:
    rng = np.random.default_rng(3)
    labels = rng.choice(6, size=1000, p=[0.5, 0.3, 0.1, 0.05, 0.04, 0.01])
    preds = np.where(rng.random(1000) < 0.5, labels, 0)  # a classifier biased to class 0
    got = ch05.macro_f1(_confusion(labels, preds, 6))
    assert math.isclose(got, _f1_from_predictions(labels, preds, 6), rel_tol=1e-12)
    accuracy = np.mean(labels == preds)
    assert got < accuracy  # the macro average punishes the neglected small classes


### END HIDDEN TESTS
