"""The NumPy training loop (numpy_nn.training) and the ready-made models (numpy_nn.models)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.functional import cross_entropy_loss
from course_lib.numpy_nn.models import mlp, simple_cnn, simple_cnn_feature_size
from course_lib.numpy_nn.module import Sequential
from course_lib.numpy_nn.optim import SGD, Adam
from course_lib.numpy_nn.training import (
    FASHION_MEAN,
    FASHION_STD,
    History,
    evaluate,
    fit,
    minibatches,
    predict,
    to_inputs,
)

pytestmark = pytest.mark.ch05


def blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two well separated Gaussian blobs in 2-D, float64 (n, 2), labels (n,)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    centres = np.array([[-2.0, -2.0], [2.0, 2.0]])
    return centres[labels] + 0.5 * rng.normal(size=(n, 2)), labels


def tiny_images(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 8, 8) pictures: class 1 is bright in the left half, class 0 in the right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    images = rng.integers(0, 60, size=(n, 8, 8), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, :, :4] += np.uint8(150) * np.uint8(k)
        images[i, :, 4:] += np.uint8(150) * np.uint8(1 - k)
    return images, labels


# --------------------------------------------------------------------------- to_inputs


def test_to_inputs_shapes_dtype_and_values() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    before = images.copy()
    x = to_inputs(images)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    rows = to_inputs(images, flatten=True, dtype=np.float64)
    assert rows.shape == (5, 784) and rows.dtype == np.float64
    expected = (images.reshape(5, -1) / 255 - FASHION_MEAN) / FASHION_STD
    np.testing.assert_allclose(rows, expected, rtol=1e-12)
    np.testing.assert_allclose(x.reshape(5, -1), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(images, before)  # the input is not modified


def test_to_inputs_floats_are_taken_as_already_scaled() -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(3, 4, 4), dtype=np.uint8)
    np.testing.assert_allclose(
        to_inputs(images.astype(np.float64) / 255, dtype=np.float64),
        to_inputs(images, dtype=np.float64),
    )


def test_fashion_statistics_match_chapter_2() -> None:
    """The constants are the mean/std of the training pixels (Chapter 2's pixel_statistics)."""
    data = pytest.importorskip("course_lib.data")
    try:
        images, _ = data.load_fashion_mnist("train")
    except data.DatasetNotFoundError:  # pragma: no cover - the data is installed in CI
        pytest.skip("Fashion-MNIST is not available")
    # exact integer sums of the pixels and their squares, 10,000 images at a time
    total = sum(int(images[i : i + 10_000].sum(dtype=np.int64)) for i in range(0, 60_000, 10_000))
    squares = sum(
        int((images[i : i + 10_000].astype(np.int64) ** 2).sum()) for i in range(0, 60_000, 10_000)
    )
    mean = total / images.size / 255
    std = math.sqrt(squares / images.size / 255**2 - mean**2)
    assert math.isclose(mean, FASHION_MEAN, rel_tol=1e-12)
    assert math.isclose(std, FASHION_STD, rel_tol=1e-9)
    standardised = to_inputs(images[:2000])
    assert abs(standardised.mean()) < 0.05 and abs(standardised.std() - 1) < 0.05


@pytest.mark.parametrize(
    "images, kwargs",
    [
        (np.zeros((4, 28), np.uint8), {}),  # 2-D
        (np.zeros((2, 3, 28, 28), np.uint8), {}),  # already (N, C, H, W)
        (np.zeros((2, 5, 5), np.int32), {}),  # neither uint8 nor float
        (np.zeros((2, 5, 5), np.uint8), {"dtype": np.int64}),
        (np.zeros((2, 5, 5), np.uint8), {"std": 0.0}),
    ],
)
def test_to_inputs_rejects_bad_input(images: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        to_inputs(images, **kwargs)


# --------------------------------------------------------------------------- minibatches


@given(n=st.integers(0, 300), batch=st.integers(1, 64), seed=st.integers(0, 2**16) | st.none())
def test_minibatches_cover_every_index_once(n: int, batch: int, seed: int | None) -> None:
    rng = None if seed is None else np.random.default_rng(seed)
    batches = list(minibatches(n, batch, rng=rng))
    assert len(batches) == math.ceil(n / batch)
    assert all(len(b) == batch for b in batches[:-1])
    flat = np.concatenate(batches) if batches else np.array([], int)
    np.testing.assert_array_equal(np.sort(flat), np.arange(n))
    if seed is None:
        np.testing.assert_array_equal(flat, np.arange(n))  # unshuffled: in order


def test_minibatches_shuffle_follows_the_rng() -> None:
    a = np.concatenate(list(minibatches(50, 8, rng=np.random.default_rng(3))))
    b = np.concatenate(list(minibatches(50, 8, rng=np.random.default_rng(3))))
    c = np.concatenate(list(minibatches(50, 8, rng=np.random.default_rng(4))))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n, batch", [(-1, 4), (10, 0), (10, 2.5), (3.5, 2)])
def test_minibatches_rejects_bad_sizes(n: float, batch: float) -> None:
    with pytest.raises(ValueError):
        list(minibatches(n, batch))


# --------------------------------------------------------------------------- fit


def blob_model(seed: int = 0) -> Sequential:
    return mlp((2, 16, 2), rng=np.random.default_rng(seed), dtype=np.float64)


def test_fit_learns_a_separable_problem() -> None:
    x, y = blobs()
    model = blob_model()
    first_loss, _ = evaluate(model, x, y, transform=None)
    history = fit(
        model, x, y, optimizer=SGD(model.parameters(), lr=0.1, momentum=0.9), epochs=5,
        batch_size=20, rng=np.random.default_rng(0), transform=None, eval_data=(x, y),
        progress=False,
    )  # fmt: skip
    assert isinstance(history, History)
    assert history.step == list(range(1, 51)) and len(history.loss) == 50
    assert history.epoch == [1, 2, 3, 4, 5]
    assert all(
        len(v) == 5
        for v in (
            history.train_accuracy,
            history.test_accuracy,
            history.seconds,
            history.train_loss,
            history.test_loss,
        )
    )
    assert history.test_accuracy[-1] == 1.0 and history.train_accuracy[-1] >= 0.95
    assert history.test_loss[-1] < 0.1 * first_loss
    assert np.mean(history.loss[-10:]) < 0.2 * np.mean(history.loss[:5])
    assert model.training  # left in training mode


def test_fit_trains_a_cnn_on_uint8_images() -> None:
    images, labels = tiny_images()
    model = simple_cnn(channels=(4, 4), num_classes=2, image_size=8, rng=np.random.default_rng(0))
    history = fit(
        model, images, labels, optimizer=Adam(model.parameters(), lr=1e-2), epochs=6,
        batch_size=16, rng=np.random.default_rng(0), eval_data=(images, labels), progress=False,
    )  # fmt: skip
    assert history.test_accuracy[-1] >= 0.95
    assert all(np.asarray(p.data).dtype == np.float32 for p in model.parameters())


def test_fit_respects_max_steps_and_calls_back_every_step() -> None:
    x, y = blobs(100)
    model = blob_model()
    seen: list[tuple[int, float]] = []

    def callback(step: int, m: Sequential, loss: float) -> None:
        assert m is model
        seen.append((step, loss))

    history = fit(
        model, x, y, optimizer=SGD(model.parameters(), lr=0.1), epochs=10, batch_size=16,
        rng=np.random.default_rng(0), transform=None, max_steps=9, callback=callback,
        progress=False,
    )  # fmt: skip
    assert history.step == list(range(1, 10))  # 7 steps per epoch: stops in epoch 2
    assert history.epoch == [1, 2]  # the cut-short epoch is recorded
    assert [s for s, _ in seen] == history.step
    assert [loss for _, loss in seen] == history.loss
    assert all(math.isnan(a) for a in history.test_accuracy)  # no eval_data


def test_fit_with_zero_steps_changes_nothing() -> None:
    x, y = blobs(40)
    model = blob_model()
    before = [p.data.copy() for p in model.parameters()]
    history = fit(
        model,
        x,
        y,
        optimizer=SGD(model.parameters(), lr=0.1),
        epochs=3,
        rng=np.random.default_rng(0),
        transform=None,
        max_steps=0,
        progress=False,
    )
    assert history.step == [] and history.epoch == []
    for b, p in zip(before, model.parameters(), strict=True):
        np.testing.assert_array_equal(b, p.data)


def run(seed: int) -> tuple[History, list[np.ndarray]]:
    x, y = blobs(120)
    model = blob_model(seed=7)
    history = fit(
        model,
        x,
        y,
        optimizer=SGD(model.parameters(), lr=0.05, momentum=0.9),
        epochs=3,
        batch_size=10,
        rng=np.random.default_rng(seed),
        transform=None,
        progress=False,
    )
    return history, [p.data.copy() for p in model.parameters()]


def test_fit_is_deterministic_given_the_rng() -> None:
    (h1, p1), (h2, p2), (h3, _) = run(0), run(0), run(1)
    assert h1.loss == h2.loss
    for a, b in zip(p1, p2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert h1.loss != h3.loss  # another shuffling seed, another trajectory


def test_fit_step_equals_the_hand_written_step() -> None:
    """One fit step with a full batch is zero_grad, forward, cross-entropy, backward, step."""
    x, y = blobs(32)
    a, b = blob_model(1), blob_model(1)
    fit(
        a,
        x,
        y,
        optimizer=SGD(a.parameters(), lr=0.1),
        epochs=1,
        batch_size=32,
        rng=np.random.default_rng(0),
        transform=None,
        progress=False,
    )
    opt = SGD(b.parameters(), lr=0.1)
    _, dlogits = cross_entropy_loss(b(x), y)  # the order of the rows does not matter
    b.backward(dlogits)
    opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12, atol=1e-14)


def test_fit_uses_the_eval_transform_for_eval_data() -> None:
    x, y = blobs(60)
    model = blob_model()
    calls = {"train": 0, "eval": 0}

    def train_t(xb: np.ndarray) -> np.ndarray:
        calls["train"] += 1
        return xb

    def eval_t(xb: np.ndarray) -> np.ndarray:
        calls["eval"] += 1
        return xb

    fit(
        model,
        x,
        y,
        optimizer=SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=30,
        rng=np.random.default_rng(0),
        transform=train_t,
        eval_transform=eval_t,
        eval_data=(x, y),
        progress=False,
    )
    assert calls == {"train": 4, "eval": 2}


@pytest.mark.parametrize(
    "images, labels",
    [
        (np.zeros((10, 2)), np.zeros(9, np.int64)),  # mismatched lengths
        (np.zeros((10, 2)), np.zeros((10, 1), np.int64)),  # labels not (N,)
        (np.zeros((10, 2)), np.zeros(10)),  # float labels
        (np.zeros((0, 2)), np.zeros(0, np.int64)),  # empty
    ],
)
def test_fit_and_evaluate_reject_mismatched_data(images: np.ndarray, labels: np.ndarray) -> None:
    model = blob_model()
    with pytest.raises(ValueError):
        fit(
            model,
            images,
            labels,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=1,
            rng=np.random.default_rng(0),
            transform=None,
            progress=False,
        )
    with pytest.raises(ValueError):
        evaluate(model, images, labels, transform=None)


def test_fit_rejects_a_missing_rng_and_bad_counts() -> None:
    x, y = blobs(20)
    model = blob_model()
    opt = SGD(model.parameters(), lr=0.1)
    for kwargs in ({"rng": 0}, {"epochs": -1}, {"max_steps": -2}):
        args = {"rng": np.random.default_rng(0), "epochs": 1, **kwargs}
        with pytest.raises(ValueError):
            fit(model, x, y, optimizer=opt, transform=None, progress=False, **args)


# --------------------------------------------------------------------------- evaluate


def test_evaluate_matches_a_direct_computation_and_restores_the_mode() -> None:
    x, y = blobs(250, seed=3)
    model = blob_model(seed=2)
    model.eval()
    loss, acc = evaluate(model, x, y, transform=None, batch_size=64)  # 4 uneven batches
    logits = model(x)
    direct_loss, _ = cross_entropy_loss(logits, y)
    assert math.isclose(loss, float(direct_loss), rel_tol=1e-12)
    assert acc == np.mean(logits.argmax(axis=1) == y)
    assert not model.training  # it was in eval mode, it stays there
    model.train()
    evaluate(model, x, y, transform=None)
    assert model.training
    np.testing.assert_allclose(predict(model, x, transform=None, batch_size=7), logits)


def test_evaluate_puts_dropout_in_eval_mode() -> None:
    x, y = blobs(50)
    model = Sequential(L.Linear(2, 8, rng=np.random.default_rng(0)), L.ReLU(),
                       L.Dropout(0.5, rng=np.random.default_rng(0)),
                       L.Linear(8, 2, rng=np.random.default_rng(1)))  # fmt: skip
    first = evaluate(model, x, y, transform=None)
    assert evaluate(model, x, y, transform=None) == first  # no random mask: repeatable


# --------------------------------------------------------------------------- models


def test_mlp_matches_chapter_2_and_torch() -> None:
    model = mlp(rng=np.random.default_rng(0))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    reference = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                    torch.nn.Linear(128, 10))  # fmt: skip
    assert sum(p.data.size for p in model.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    x = to_inputs(np.zeros((3, 28, 28), np.uint8), flatten=True)
    assert model(x).shape == (3, 10) and model(x).dtype == np.float32
    tanh_net = mlp((4, 3, 3, 2), activation=L.Tanh, rng=np.random.default_rng(0), init="xavier")
    assert [type(m).__name__ for m in tanh_net] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]


@pytest.mark.parametrize("sizes", [(784,), (784, 0, 10), (784, 2.5, 10)])
def test_mlp_rejects_bad_sizes(sizes: tuple) -> None:
    with pytest.raises(ValueError):
        mlp(sizes, rng=np.random.default_rng(0))


def torch_simple_cnn(c1: int, c2: int, classes: int, size: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, c1, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c1, c2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(c2 * (size // 4) ** 2, classes),
    ).double()  # fmt: skip


@given(c1=st.integers(1, 6), c2=st.integers(1, 6), classes=st.integers(2, 5),
       size=st.integers(4, 13))  # fmt: skip
def test_simple_cnn_equals_torch(c1: int, c2: int, classes: int, size: int) -> None:
    """Same weights -> same logits and gradients as the same torch.nn.Sequential (float64)."""
    rng = np.random.default_rng(c1 * 100 + c2 * 10 + size)
    model = simple_cnn(channels=(c1, c2), num_classes=classes, image_size=size, rng=rng,
                       dtype=np.float64)  # fmt: skip
    reference = torch_simple_cnn(c1, c2, classes, size)
    ours = dict(model.named_parameters())
    theirs = dict(reference.named_parameters())
    assert (
        ours.keys() == theirs.keys() == {f"{i}.{w}" for i in (0, 3, 7) for w in ("weight", "bias")}
    )
    with torch.no_grad():
        for name, p in ours.items():
            theirs[name].copy_(torch.from_numpy(p.data.T if p.data.ndim == 2 else p.data))
    assert sum(p.data.size for p in ours.values()) == sum(p.numel() for p in theirs.values())
    x = rng.normal(size=(3, 1, size, size))
    labels = rng.integers(0, classes, size=3)
    logits = model(x)
    loss, dlogits = cross_entropy_loss(logits, labels)
    model.backward(dlogits)
    x_t = torch.from_numpy(x)
    loss_t = torch.nn.functional.cross_entropy(reference(x_t), torch.from_numpy(labels))
    loss_t.backward()
    np.testing.assert_allclose(logits, reference(x_t).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert math.isclose(loss, loss_t.item(), rel_tol=1e-12)
    for name, p in ours.items():
        g = theirs[name].grad.numpy()
        np.testing.assert_allclose(p.grad, g.T if g.ndim == 2 else g, rtol=1e-9, atol=1e-12)


def test_simple_cnn_shapes_and_default_size() -> None:
    model = simple_cnn(rng=np.random.default_rng(0))
    assert simple_cnn_feature_size() == 16 * 7 * 7
    x = to_inputs(np.zeros((2, 28, 28), np.uint8))
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(x.shape[1:])
    assert shapes == [(8, 28, 28), (8, 28, 28), (8, 14, 14), (16, 14, 14), (16, 14, 14),
                      (16, 7, 7), (784,), (10,)]  # fmt: skip
    assert x.dtype == np.float32
    n_params = sum(p.data.size for p in model.parameters())
    assert n_params == (8 * 9 + 8) + (16 * 8 * 9 + 16) + (784 * 10 + 10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channels": (8,)},
        {"channels": (8, 0)},
        {"num_classes": 0},
        {"image_size": 3},
        {"in_channels": 0},
    ],  # fmt: skip
)
def test_simple_cnn_rejects_bad_sizes(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        simple_cnn(rng=np.random.default_rng(0), **kwargs)


def test_fit_on_flattened_inputs_with_partial() -> None:
    images, labels = tiny_images(48)
    model = mlp((64, 16, 2), rng=np.random.default_rng(0))
    history = fit(model, images, labels, optimizer=SGD(model.parameters(), lr=0.1, momentum=0.9),
                  epochs=8, batch_size=16, rng=np.random.default_rng(0),
                  transform=functools.partial(to_inputs, flatten=True),
                  eval_data=(images, labels), progress=False)  # fmt: skip
    assert history.test_accuracy[-1] >= 0.95
