"""SimpleCNN is the NumPy simple_cnn in torch; FashionCNN's shapes and options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn.functional import cross_entropy_loss
from course_lib.numpy_nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from course_lib.numpy_nn.module import Sequential
from course_lib.torch_nn.cnn import FashionCNN, SimpleCNN, build_model, count_parameters


def numpy_simple_cnn(channels, image_size, rng, in_channels=1, num_classes=10):
    """The network of the API contract, built from the layers (independent of models.py)."""
    c1, c2 = channels
    side = image_size // 2 // 2
    kw = {"rng": rng, "dtype": np.float64}
    return Sequential(
        Conv2d(in_channels, c1, 3, padding=1, **kw), ReLU(), MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=1, **kw), ReLU(), MaxPool2d(2),
        Flatten(), Linear(c2 * side * side, num_classes, **kw),
    )


@settings(max_examples=8)
@given(
    c1=st.integers(1, 6),
    c2=st.integers(1, 6),
    size=st.integers(4, 13),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_simple_cnn_matches_numpy_logits_and_gradients(c1, c2, size, n, seed):
    rng = np.random.default_rng(seed)
    np_model = numpy_simple_cnn((c1, c2), size, rng)
    for p in np_model.parameters():  # non-zero biases, so a transposition or a missed copy shows
        p.data = p.data + rng.normal(0, 0.1, p.shape)
    x = rng.normal(size=(n, 1, size, size))
    y = rng.integers(0, 10, n)

    logits = np_model(x)
    loss, dlogits = cross_entropy_loss(logits, y)
    np_model.zero_grad()
    np_model.backward(dlogits)

    model = SimpleCNN(channels=(c1, c2), image_size=size).double()
    assert model.load_numpy(np_model) is model
    xt = torch.from_numpy(x).requires_grad_(False)
    out = model(xt)
    np.testing.assert_allclose(out.detach().numpy(), logits, rtol=1e-10, atol=1e-12)
    tloss = torch.nn.functional.cross_entropy(out, torch.from_numpy(y))
    np.testing.assert_allclose(tloss.item(), loss, rtol=1e-12)
    tloss.backward()
    named = dict(model.net.named_parameters())
    np_named = dict(np_model.named_parameters())
    assert set(named) == set(np_named) == {"0.weight", "0.bias", "3.weight", "3.bias",
                                           "7.weight", "7.bias"}
    for name, p in named.items():
        g = np_named[name].grad
        if name == "7.weight":
            g = g.T  # NumPy (in, out) -> torch (out, in)
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-9, atol=1e-12, err_msg=name)


def test_simple_cnn_matches_the_chapter_model_of_numpy_nn_models():
    models = pytest.importorskip("course_lib.numpy_nn.models")
    np_model = models.simple_cnn(rng=np.random.default_rng(0), dtype=np.float64)
    model = SimpleCNN().double().load_numpy(np_model)
    x = np.random.default_rng(1).normal(size=(3, 1, 28, 28))
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), np_model(x),
                               rtol=1e-10, atol=1e-12)


def test_load_numpy_rejects_another_network():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="does not fit"):
        SimpleCNN(channels=(4, 8)).load_numpy(numpy_simple_cnn((4, 6), 28, rng))
    with pytest.raises(ValueError, match="8 layers"):
        SimpleCNN().load_numpy(Sequential(Linear(3, 2, rng=rng)))


def test_simple_cnn_shapes_and_first_conv():
    model = SimpleCNN(in_channels=3, channels=(4, 5), num_classes=7, image_size=30)
    assert model(torch.zeros(2, 3, 30, 30)).shape == (2, 7)
    assert model.first_conv.weight.shape == (4, 3, 3, 3)
    with pytest.raises(ValueError, match="image_size"):
        SimpleCNN(image_size=3)


@pytest.mark.parametrize("width,dropout", [(8, 0.0), (16, 0.3)])
def test_fashion_cnn_shapes(width, dropout):
    model = FashionCNN(width=width, dropout=dropout, hidden=32)
    assert isinstance(model.features, torch.nn.Sequential)
    assert model.first_conv is model.features[0] and model.first_conv.out_channels == width
    x = torch.randn(5, 1, 28, 28)
    assert model.features(x).shape == (5, 2 * width, 7, 7)
    assert model(x).shape == (5, 10)
    model.eval()
    torch.testing.assert_close(model(x), model(x))  # eval mode: no dropout, BN running stats


def test_fashion_cnn_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    model = FashionCNN(width=4, dropout=0.5, hidden=16).train()
    x = torch.randn(8, 1, 28, 28)
    assert not torch.equal(model(x), model(x))
    with pytest.raises(ValueError, match="dropout"):
        FashionCNN(dropout=1.0)


def test_build_model_by_name():
    m = build_model("simple", channels=[4, 8])  # lists, as stored in a checkpoint's config
    assert isinstance(m, SimpleCNN) and m.net[3].out_channels == 8
    assert isinstance(build_model("fashion", width=8), FashionCNN)
    assert count_parameters(SimpleCNN()) == 8 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 49 * 10 + 10
    with pytest.raises(ValueError, match="unknown model .resnet.; known: .*fashion.*simple"):
        build_model("resnet")
