"""Graded tests of the Chapter 1 exercises (course_lib/exercises/ch01.py).

Each test carries its points and exercise id. The references are independent
of the code under test: PyTorch (float64, on the CPU) and small hand-worked
cases. Only NumPy, PyTorch and pytest are needed, so the tests run in the
grading environment. The tests between the HIDDEN TESTS markers are left out
of the student edition.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch01

pytestmark = pytest.mark.ch01

TRUE_CONV = "ch01-ex-true-convolution"
RECEPTIVE = "ch01-ex-receptive-field"
SOBEL = "ch01-ex-sobel"
INPUT_GRAD = "ch01-ex-input-grad"
AVGPOOL = "ch01-ex-avgpool-as-conv"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- references


def _ref_convolve2d(image: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    """Full true convolution by torch: cross-correlation with the flipped kernel, padded K-1."""
    kh, kw = kernel.shape
    x = torch.from_numpy(np.asarray(image, dtype=np.float64))[None, None]
    k = torch.from_numpy(np.asarray(kernel, dtype=np.float64)).flip(0, 1)[None, None]
    full = F.conv2d(x, k, padding=(kh - 1, kw - 1))[0, 0].numpy()
    h, w = image.shape
    if mode == "full":
        return full
    if mode == "same":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        return full[top : top + h, left : left + w]
    return full[kh - 1 : h, kw - 1 : w]


def _ref_receptive_field(layers: list[tuple[int, ...]]) -> tuple[int, int]:
    """Measure (r, j) with autograd: which inputs reach output 0 and output 1 of a 1-D stack."""
    length = 2  # walk back from two outputs to the input length that produces them
    for layer in reversed(layers):
        k, s, d = (*layer, 1)[:3]
        length = (length - 1) * s + d * (k - 1) + 1
    x = torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)
    y = x
    for layer in layers:
        k, s, d = (*layer, 1)[:3]
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    spans = []
    for unit in (0, 1):
        (g,) = torch.autograd.grad(y[0, 0, unit], x, retain_graph=True)
        nz = torch.nonzero(g[0, 0]).flatten()
        spans.append((int(nz[0]), int(nz[-1])))
    return spans[0][1] - spans[0][0] + 1, spans[1][0] - spans[0][0]


def _ref_sobel(image: np.ndarray) -> np.ndarray:
    sx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)
    k = torch.stack([sx, sx.T])[:, None]  # (2, 1, 3, 3)
    g = F.conv2d(torch.from_numpy(np.asarray(image, dtype=np.float64))[None, None], k)[0]
    return torch.sqrt(g[0] ** 2 + g[1] ** 2).numpy()


def _ref_input_grad(dout: np.ndarray, w: np.ndarray) -> np.ndarray:
    n, f, ho, wo = dout.shape
    _, c, kh, kw = w.shape
    x = torch.zeros(n, c, ho + kh - 1, wo + kw - 1, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, torch.from_numpy(np.asarray(w, dtype=np.float64)))
    (dx,) = torch.autograd.grad(y, x, torch.from_numpy(np.asarray(dout, dtype=np.float64)))
    return dx.numpy()


def _ref_avgpool(x: np.ndarray, kernel_size, stride=None) -> np.ndarray:
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    return F.avg_pool2d(xt, kernel_size, stride).numpy()


# --------------------------------------------------------------------------- true convolution


@pytest.mark.points(2)
@pytest.mark.exercise(TRUE_CONV)
def test_convolve2d_full() -> None:
    rng = _rng(1)
    image, kernel = rng.normal(size=(9, 11)), rng.normal(size=(3, 4))
    out = ch01.convolve2d(image, kernel, "full")
    assert out.shape == (11, 14)
    np.testing.assert_allclose(out, _ref_convolve2d(image, kernel, "full"), atol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(TRUE_CONV)
def test_convolve2d_default_mode_is_full() -> None:
    rng = _rng(2)
    image, kernel = rng.normal(size=(6, 5)), rng.normal(size=(3, 3))
    full = ch01.convolve2d(image, kernel, "full")
    np.testing.assert_allclose(ch01.convolve2d(image, kernel), full)


@pytest.mark.points(2)
@pytest.mark.exercise(TRUE_CONV)
@pytest.mark.parametrize("mode", ["same", "valid"])
def test_convolve2d_same_and_valid(mode: str) -> None:
    rng = _rng(3)
    image, kernel = rng.normal(size=(10, 8)), rng.normal(size=(3, 5))
    out = ch01.convolve2d(image, kernel, mode)
    np.testing.assert_allclose(out, _ref_convolve2d(image, kernel, mode), atol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(TRUE_CONV)
def test_convolve2d_hand_example() -> None:
    # An impulse reproduces the kernel, unflipped: the signature of a true convolution.
    image = np.zeros((3, 3))
    image[1, 1] = 1.0
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_allclose(ch01.convolve2d(image, kernel, "same"), kernel)


@pytest.mark.points(1)
@pytest.mark.exercise(TRUE_CONV)
def test_convolve2d_errors() -> None:
    with pytest.raises(ValueError):
        ch01.convolve2d(np.ones((4, 4, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError):
        ch01.convolve2d(np.ones((4, 4)), np.ones((3, 3)), "circular")
    with pytest.raises(ValueError):
        ch01.convolve2d(np.ones((2, 5)), np.ones((3, 3)), "valid")


# --------------------------------------------------------------------------- receptive field


@pytest.mark.points(1)
@pytest.mark.exercise(RECEPTIVE)
def test_receptive_field_examples() -> None:
    assert ch01.receptive_field([]) == (1, 1)
    assert ch01.receptive_field([(3, 1)]) == (3, 1)
    assert ch01.receptive_field([(3, 1), (3, 1)]) == (5, 1)
    assert ch01.receptive_field([(3, 1), (2, 2), (3, 1)]) == (8, 2)


@pytest.mark.points(2)
@pytest.mark.exercise(RECEPTIVE)
@pytest.mark.parametrize(
    "layers",
    [
        [(5, 1), (2, 2), (5, 1), (2, 2)],  # LeNet-like
        [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1)],  # VGG-like
        [(7, 2), (3, 2), (3, 1), (3, 1)],  # ResNet stem and a block
    ],
)
def test_receptive_field_matches_autograd(layers: list[tuple[int, int]]) -> None:
    assert ch01.receptive_field(layers) == _ref_receptive_field(layers)


@pytest.mark.points(1)
@pytest.mark.exercise(RECEPTIVE)
def test_receptive_field_dilation() -> None:
    layers = [(3, 1, 2), (3, 1, 4)]
    assert ch01.receptive_field(layers) == _ref_receptive_field(layers) == (13, 1)


@pytest.mark.points(1)
@pytest.mark.exercise(RECEPTIVE)
def test_receptive_field_errors() -> None:
    with pytest.raises(ValueError):
        ch01.receptive_field([(3, 0)])
    with pytest.raises(ValueError):
        ch01.receptive_field([(3,)])


# --------------------------------------------------------------------------- Sobel


@pytest.mark.points(1)
@pytest.mark.exercise(SOBEL)
def test_sobel_shape_and_dtype() -> None:
    image = _rng(4).random((12, 9)).astype(np.float32)
    out = ch01.sobel_magnitude(image)
    assert out.shape == (10, 7)
    assert out.dtype == np.float32


@pytest.mark.points(1)
@pytest.mark.exercise(SOBEL)
def test_sobel_on_ramps() -> None:
    # For the image a*j + b*i the two Sobel responses are 8a and 8b everywhere.
    i, j = np.mgrid[0:6, 0:7].astype(np.float64)
    np.testing.assert_allclose(ch01.sobel_magnitude(2.0 * j), 16.0)
    np.testing.assert_allclose(ch01.sobel_magnitude(3.0 * j + 4.0 * i), 40.0)


@pytest.mark.points(2)
@pytest.mark.exercise(SOBEL)
def test_sobel_matches_torch() -> None:
    image = _rng(5).random((20, 17))
    np.testing.assert_allclose(ch01.sobel_magnitude(image), _ref_sobel(image), atol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(SOBEL)
def test_sobel_errors() -> None:
    with pytest.raises(ValueError):
        ch01.sobel_magnitude(np.ones((8, 8, 3)))
    with pytest.raises(ValueError):
        ch01.sobel_magnitude(np.ones((2, 8)))


# --------------------------------------------------------------------------- input gradient


@pytest.mark.points(1)
@pytest.mark.exercise(INPUT_GRAD)
def test_input_grad_shape() -> None:
    rng = _rng(6)
    dx = ch01.conv2d_input_grad(rng.normal(size=(2, 4, 5, 6)), rng.normal(size=(4, 3, 3, 2)))
    assert dx.shape == (2, 3, 7, 7)


@pytest.mark.points(3)
@pytest.mark.exercise(INPUT_GRAD)
def test_input_grad_matches_autograd() -> None:
    rng = _rng(7)
    dout, w = rng.normal(size=(2, 4, 5, 6)), rng.normal(size=(4, 3, 3, 2))
    np.testing.assert_allclose(
        ch01.conv2d_input_grad(dout, w), _ref_input_grad(dout, w), rtol=1e-10, atol=1e-10
    )


@pytest.mark.points(1)
@pytest.mark.exercise(INPUT_GRAD)
def test_input_grad_errors() -> None:
    with pytest.raises(ValueError):
        ch01.conv2d_input_grad(np.ones((4, 5, 6)), np.ones((4, 3, 3, 3)))
    with pytest.raises(ValueError):
        ch01.conv2d_input_grad(np.ones((1, 4, 5, 6)), np.ones((2, 3, 3, 3)))


# --------------------------------------------------------------------------- average pooling


@pytest.mark.points(2)
@pytest.mark.exercise(AVGPOOL)
def test_avgpool_default_stride() -> None:
    x = _rng(8).normal(size=(2, 3, 8, 6))
    out = ch01.avgpool2d_as_conv(x, 2)
    assert out.shape == (2, 3, 4, 3)
    np.testing.assert_allclose(out, _ref_avgpool(x, 2), atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(AVGPOOL)
def test_avgpool_overlapping_windows() -> None:
    x = _rng(9).normal(size=(1, 2, 9, 9))
    np.testing.assert_allclose(ch01.avgpool2d_as_conv(x, 3, 2), _ref_avgpool(x, 3, 2), atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(AVGPOOL)
def test_avgpool_pairs() -> None:
    x = _rng(10).normal(size=(2, 2, 7, 10))
    out = ch01.avgpool2d_as_conv(x, (3, 2), (2, 3))
    np.testing.assert_allclose(out, _ref_avgpool(x, (3, 2), (2, 3)), atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(AVGPOOL)
def test_avgpool_errors() -> None:
    with pytest.raises(ValueError):
        ch01.avgpool2d_as_conv(np.ones((3, 8, 8)), 2)
    with pytest.raises(ValueError):
        ch01.avgpool2d_as_conv(np.ones((1, 1, 3, 3)), 4)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(TRUE_CONV)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_hidden_convolve2d_even_and_thin_kernels(mode: str) -> None:
    rng = _rng(101)
    image = rng.normal(size=(7, 9))
    for kshape in [(2, 2), (4, 1), (1, 6), (1, 1), (7, 9)]:
        kernel = rng.normal(size=kshape)
        out = ch01.convolve2d(image, kernel, mode)
        np.testing.assert_allclose(out, _ref_convolve2d(image, kernel, mode), atol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(TRUE_CONV)
def test_hidden_convolve2d_kernel_larger_than_image() -> None:
    rng = _rng(102)
    image, kernel = rng.normal(size=(3, 4)), rng.normal(size=(5, 6))
    for mode in ("full", "same"):
        out = ch01.convolve2d(image, kernel, mode)
        np.testing.assert_allclose(out, _ref_convolve2d(image, kernel, mode), atol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(TRUE_CONV)
def test_hidden_convolve2d_commutes_and_dtypes() -> None:
    rng = _rng(103)
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(ch01.convolve2d(a, b), ch01.convolve2d(b, a), atol=1e-10)
    out32 = ch01.convolve2d(a.astype(np.float32), b.astype(np.float32))
    assert out32.dtype == np.float32
    out_int = ch01.convolve2d(np.arange(12).reshape(3, 4), np.ones((2, 2), dtype=np.int64))
    assert out_int.dtype == np.float64
    assert out_int[1, 1] == 0 + 1 + 4 + 5


@pytest.mark.points(1)
@pytest.mark.exercise(RECEPTIVE)
def test_hidden_receptive_field_wavenet_and_types() -> None:
    layers = [(2, 1, 2**k) for k in range(6)]
    assert ch01.receptive_field(layers) == _ref_receptive_field(layers) == (64, 1)
    assert ch01.receptive_field([(np.int64(3), np.int64(2))]) == (3, 2)
    with pytest.raises(ValueError):
        ch01.receptive_field([(3, True)])
    with pytest.raises(ValueError):
        ch01.receptive_field([(3, 1, 1, 1)])
    with pytest.raises(ValueError):
        ch01.receptive_field([(2.5, 1)])


@pytest.mark.points(1)
@pytest.mark.exercise(RECEPTIVE)
def test_hidden_receptive_field_strided_dilated_mix() -> None:
    layers = [(3, 2, 1), (3, 1, 2), (2, 2, 1), (5, 3, 3)]
    assert ch01.receptive_field(layers) == _ref_receptive_field(layers)


@pytest.mark.points(1)
@pytest.mark.exercise(SOBEL)
def test_hidden_sobel_rotation_and_tiny_image() -> None:
    image = _rng(104).random((9, 13))
    # Rotating the picture rotates the magnitude: it does not depend on direction signs.
    np.testing.assert_allclose(
        ch01.sobel_magnitude(np.rot90(image)), np.rot90(ch01.sobel_magnitude(image)), atol=1e-12
    )
    tiny = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(ch01.sobel_magnitude(tiny), [[4.0]])
    assert ch01.sobel_magnitude(np.ones((3, 3), dtype=np.uint8)).dtype == np.float32


@pytest.mark.points(1)
@pytest.mark.exercise(INPUT_GRAD)
def test_hidden_input_grad_1x1_kernel_and_float32() -> None:
    rng = _rng(105)
    dout, w = rng.normal(size=(3, 2, 4, 5)), rng.normal(size=(2, 3, 1, 1))
    np.testing.assert_allclose(
        ch01.conv2d_input_grad(dout, w), np.einsum("nfhw,fc->nchw", dout, w[:, :, 0, 0])
    )
    dx32 = ch01.conv2d_input_grad(dout.astype(np.float32), w.astype(np.float32))
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, _ref_input_grad(dout, w), rtol=1e-4, atol=1e-5)


@pytest.mark.points(1)
@pytest.mark.exercise(INPUT_GRAD)
def test_hidden_input_grad_wide_kernel() -> None:
    rng = _rng(106)
    dout, w = rng.normal(size=(1, 1, 1, 2)), rng.normal(size=(1, 2, 4, 6))
    np.testing.assert_allclose(
        ch01.conv2d_input_grad(dout, w), _ref_input_grad(dout, w), rtol=1e-10, atol=1e-10
    )


@pytest.mark.points(1)
@pytest.mark.exercise(AVGPOOL)
def test_hidden_avgpool_floor_and_dtype() -> None:
    x = _rng(107).normal(size=(2, 3, 11, 7)).astype(np.float32)
    out = ch01.avgpool2d_as_conv(x, 3)
    assert out.dtype == np.float32
    assert out.shape == (2, 3, 3, 2)
    np.testing.assert_allclose(out, _ref_avgpool(x, 3), rtol=1e-5, atol=1e-6)


@pytest.mark.points(1)
@pytest.mark.exercise(AVGPOOL)
def test_hidden_avgpool_does_not_call_pooling(monkeypatch: pytest.MonkeyPatch) -> None:
    import course_lib.numpy_nn.functional as functional
    import course_lib.numpy_nn.functional.pooling as pooling

    def forbidden(*args, **kwargs):
        raise AssertionError("the exercise asks for a convolution, not the pooling function")

    for module in (functional, pooling):
        monkeypatch.setattr(module, "avgpool2d_forward", forbidden)
    x = _rng(108).normal(size=(1, 2, 6, 6))
    np.testing.assert_allclose(ch01.avgpool2d_as_conv(x, 2), _ref_avgpool(x, 2), atol=1e-12)


### END HIDDEN TESTS
