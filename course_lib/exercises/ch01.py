"""Chapter 1 exercises: convolution and pooling.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch01.py``.

Exercise ids, functions and the notebook that introduces each:

* ``ch01-ex-true-convolution``: :func:`convolve2d` (01, correlation and convolution)
* ``ch01-ex-receptive-field``: :func:`receptive_field` (01, output size)
* ``ch01-ex-sobel``: :func:`sobel_magnitude` (01, classic filters)
* ``ch01-ex-input-grad``: :func:`conv2d_input_grad` (03, backward pass)
* ``ch01-ex-avgpool-as-conv``: :func:`avgpool2d_as_conv` (04, pooling)

Conventions are the book's: NCHW arrays, "convolution layer" meaning
cross-correlation (as in PyTorch), kernels indexed from 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.numpy_nn.functional import conv2d_forward

__all__ = [
    "avgpool2d_as_conv",
    "conv2d_input_grad",
    "convolve2d",
    "receptive_field",
    "sobel_magnitude",
]


def convolve2d(image: np.ndarray, kernel: np.ndarray, mode: str = "full") -> np.ndarray:
    """True (flipped) 2-D convolution of an image with a kernel, as in signal processing.

    Exercise ``ch01-ex-true-convolution``. With the image taken as zero outside
    its ``H x W`` support, the full convolution is (book equation
    ``eq-ch01-conv``)::

        full[i, j] = sum_{m=0}^{KH-1} sum_{n=0}^{KW-1} kernel[m, n] * image[i - m, j - n]

    for ``0 <= i < H + KH - 1`` and ``0 <= j < W + KW - 1``. Note the minus
    signs: the kernel is flipped, unlike the cross-correlation that deep
    learning libraries call convolution.

    Args:
        image: real array of shape ``(H, W)``.
        kernel: real array of shape ``(KH, KW)``.
        mode: which part of ``full`` to return, exactly as
            ``scipy.signal.convolve2d`` does:

            * ``"full"``: all of it, shape ``(H + KH - 1, W + KW - 1)``;
            * ``"same"``: the centre, shape ``(H, W)``: ``full[a:a + H, c:c + W]``
              with ``a = (KH - 1) // 2`` and ``c = (KW - 1) // 2``;
            * ``"valid"``: the outputs that need no zero padding, shape
              ``(H - KH + 1, W - KW + 1)``: ``full[KH - 1:H, KW - 1:W]``.

    Returns:
        The convolution, dtype ``np.result_type(image.dtype, kernel.dtype, np.float32)``.

    Raises:
        ValueError: if ``image`` or ``kernel`` is not 2-D or is empty, if ``mode``
            is not one of the three above, or if ``mode="valid"`` and the
            kernel is larger than the image along either axis.

    Use NumPy only (no SciPy); ``np.lib.stride_tricks.sliding_window_view``
    helps.
    """
    ### BEGIN SOLUTION
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(
            f"expected a 2-D image and a 2-D kernel, got shapes {image.shape} and {kernel.shape}"
        )
    if image.size == 0 or kernel.size == 0:
        raise ValueError(f"empty input: image {image.shape}, kernel {kernel.shape}")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid', got {mode!r}")
    (h, w), (kh, kw) = image.shape, kernel.shape
    if mode == "valid" and (kh > h or kw > w):
        raise ValueError(f"mode='valid' needs a kernel {kernel.shape} no larger than {image.shape}")
    dtype = np.result_type(image.dtype, kernel.dtype, np.float32)
    # Convolution = cross-correlation with the flipped kernel (eq-ch01-flip); zero padding
    # of KH-1 rows and KW-1 columns on each side gives every output of the full mode.
    padded = np.pad(image.astype(dtype), ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw))  # (H+KH-1, W+KW-1, KH, KW)
    flipped = kernel[::-1, ::-1].astype(dtype)
    full = np.einsum("ijmn,mn->ij", windows, flipped)  # (H+KH-1, W+KW-1)
    if mode == "full":
        return full
    if mode == "same":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        return full[top : top + h, left : left + w]
    return full[kh - 1 : h, kw - 1 : w]
    ### END SOLUTION


def receptive_field(layers: Sequence[Sequence[int]]) -> tuple[int, int]:
    """Receptive field size and jump of one unit after a stack of convolution/pooling layers.

    Exercise ``ch01-ex-receptive-field``. Work along one spatial axis.

    Args:
        layers: the layers in the order they are applied to the input, each a
            tuple ``(kernel_size, stride)`` or ``(kernel_size, stride, dilation)``
            of positive ints (dilation 1 when omitted). A pooling layer is a
            layer like any other (``(2, 2)`` for 2x2 max pooling). Padding does
            not matter and is not given.

    Returns:
        ``(r, j)`` where

        * ``r``, the receptive field size, is the span of input pixels that can
          influence one unit of the last layer: the index of the last such
          input pixel minus the index of the first, plus one (with dilation the
          field has holes; the span counts them);
        * ``j``, the jump, is the distance in input pixels between the
          receptive fields of two neighbouring units of the last layer.

        With no layers the answer is ``(1, 1)``: a pixel sees itself.

    Raises:
        ValueError: if a layer is not a tuple of 2 or 3 entries, or an entry is
            not an int (``bool`` is not accepted) or is smaller than 1.

    Example: two 3x3 convolutions of stride 1 see 5 pixels, ``(5, 1)``;
    ``[(3, 1), (2, 2), (3, 1)]`` gives ``(8, 2)``.
    """
    ### BEGIN SOLUTION
    r, j = 1, 1
    for layer in layers:
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise ValueError(
                f"each layer must be (kernel_size, stride[, dilation]), got {layer!r}"
            )
        for v in layer:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"layer {layer!r}: every entry must be an int >= 1")
        k, s = int(layer[0]), int(layer[1])
        d = int(layer[2]) if len(layer) == 3 else 1
        # A kernel of dilated span d(k-1)+1 at this layer covers d(k-1) extra units of the
        # previous layer, each j input pixels apart (eq-ch01-receptive-field).
        r += d * (k - 1) * j
        j *= s
    return r, j
    ### END SOLUTION


def sobel_magnitude(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a grey image from the two Sobel filters.

    Exercise ``ch01-ex-sobel``. With the Sobel kernels::

        SX = [[-1, 0, 1],        SY = SX.T = [[-1, -2, -1],
              [-2, 0, 2],                     [ 0,  0,  0],
              [-1, 0, 1]]                     [ 1,  2,  1]]

    compute the valid cross-correlations ``gx = image (star) SX`` (positive
    where the intensity increases to the right) and ``gy = image (star) SY``
    (positive where it increases downwards), that is
    ``gx[i, j] = sum_{m,n} SX[m, n] * image[i + m, j + n]``, and return
    ``sqrt(gx**2 + gy**2)``.

    Args:
        image: real array of shape ``(H, W)`` with ``H >= 3`` and ``W >= 3``.

    Returns:
        Array of shape ``(H - 2, W - 2)``, dtype ``np.result_type(image.dtype, np.float32)``.

    Raises:
        ValueError: if ``image`` is not 2-D (a colour image must be converted
            to grey first) or is smaller than 3x3.
    """
    ### BEGIN SOLUTION
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a grey (H, W) image, got shape {image.shape}")
    if image.shape[0] < 3 or image.shape[1] < 3:
        raise ValueError(f"the image must be at least 3x3 for a 3x3 filter, got {image.shape}")
    img = image.astype(np.result_type(image.dtype, np.float32))
    # SX = outer([1, 2, 1], [-1, 0, 1]): a central difference across columns, smoothed
    # over rows; written with shifted slices instead of a general convolution.
    dcol = img[:, 2:] - img[:, :-2]  # (H, W-2)
    gx = dcol[:-2] + 2 * dcol[1:-1] + dcol[2:]  # (H-2, W-2)
    drow = img[2:, :] - img[:-2, :]  # (H-2, W)
    gy = drow[:, :-2] + 2 * drow[:, 1:-1] + drow[:, 2:]  # (H-2, W-2)
    return np.sqrt(gx**2 + gy**2)
    ### END SOLUTION


def conv2d_input_grad(dout: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gradient of a stride-1 convolution layer with respect to its input.

    Exercise ``ch01-ex-input-grad``. The layer is
    ``y = conv2d_forward(x, w, b)`` with stride 1, no padding, no dilation::

        y[n, f, i, j] = b[f] + sum_{c,m,k} w[f, c, m, k] * x[n, c, i + m, j + k]

    with ``x`` of shape ``(N, C, H, W)``, ``w`` of shape ``(F, C, KH, KW)`` and
    ``y`` of shape ``(N, F, H', W') = (N, F, H - KH + 1, W - KW + 1)``. Given the
    upstream gradient ``dout = dL/dy``, return ``dx = dL/dx`` computed as in the
    book (equation ``eq-ch01-dx``): a *full* cross-correlation of ``dout`` with
    the kernel rotated by 180 degrees and its two channel axes swapped::

        dx[n, c] = sum_f  full_cross_correlation(dout[n, f], w[f, c, ::-1, ::-1])

    i.e. zero-pad ``dout`` by ``KH - 1`` rows and ``KW - 1`` columns on each
    side and cross-correlate it with ``w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]``
    (shape ``(C, F, KH, KW)``). You may call
    ``course_lib.numpy_nn.functional.conv2d_forward`` but not ``conv2d_backward``.

    Args:
        dout: array ``(N, F, H', W')``.
        w: array ``(F, C, KH, KW)``.

    Returns:
        ``dx`` of shape ``(N, C, H' + KH - 1, W' + KW - 1)``, dtype
        ``np.result_type(dout.dtype, w.dtype)``.

    Raises:
        ValueError: if ``dout`` or ``w`` is not 4-D, or their ``F`` axes differ.
    """
    ### BEGIN SOLUTION
    dout, w = np.asarray(dout), np.asarray(w)
    if dout.ndim != 4 or w.ndim != 4:
        raise ValueError(f"expected 4-D dout and w, got shapes {dout.shape} and {w.shape}")
    if dout.shape[1] != w.shape[0]:
        raise ValueError(
            f"dout has {dout.shape[1]} channels but w has {w.shape[0]} filters: "
            f"dout {dout.shape}, w {w.shape}"
        )
    dtype = np.result_type(dout.dtype, w.dtype)
    _, c, kh, kw = w.shape
    # Swap F and C and rotate by 180 degrees: the transposed convolution (eq-ch01-dx).
    w_t = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]  # (C, F, KH, KW)
    w_t = np.ascontiguousarray(w_t, dtype=dtype)
    dx, _ = conv2d_forward(
        dout.astype(dtype), w_t, np.zeros(c, dtype=dtype), padding=(kh - 1, kw - 1)
    )
    return dx  # (N, C, H'+KH-1, W'+KW-1)
    ### END SOLUTION


def avgpool2d_as_conv(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Average pooling written as a strided depthwise convolution.

    Exercise ``ch01-ex-avgpool-as-conv``. Average pooling of ``x``
    ``(N, C, H, W)`` with a ``KH x KW`` window and stride ``(SH, SW)``, no
    padding (book equation ``eq-ch01-avgpool``)::

        y[n, c, i, j] = 1/(KH*KW) * sum_{m,k} x[n, c, SH*i + m, SW*j + k]

    is a convolution in which every channel is filtered on its own (a
    *depthwise* convolution) by the same constant kernel ``1/(KH*KW)``.
    Implement it that way: fold the channels into the batch,
    ``(N*C, 1, H, W)``, call ``course_lib.numpy_nn.functional.conv2d_forward``
    with one ``(1, 1, KH, KW)`` kernel, a zero bias and the stride, and unfold
    back. Do not call the pooling functions. The result equals
    ``torch.nn.functional.avg_pool2d(x, kernel_size, stride)``.

    Args:
        x: float array ``(N, C, H, W)``.
        kernel_size: ``K`` or ``(KH, KW)``, positive.
        stride: ``S`` or ``(SH, SW)``, positive; ``None`` (default) means
            ``kernel_size``, i.e. non-overlapping windows.

    Returns:
        Array ``(N, C, (H - KH) // SH + 1, (W - KW) // SW + 1)`` of the dtype of ``x``.

    Raises:
        ValueError: if ``x`` is not 4-D, a size is not positive, or the window
            is larger than the input.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected x of shape (N, C, H, W), got {x.shape}")
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else tuple(kernel_size)
    stride = (kh, kw) if stride is None else stride
    sh, sw = (stride, stride) if np.isscalar(stride) else tuple(stride)
    if min(kh, kw, sh, sw) < 1:
        raise ValueError(f"kernel_size {kernel_size!r} and stride {stride!r} must be positive")
    n, c, h, w = x.shape
    if kh > h or kw > w:
        raise ValueError(f"window {(kh, kw)} is larger than the input {(h, w)} of x {x.shape}")
    x_folded = x.reshape(n * c, 1, h, w)  # (N*C, 1, H, W): each channel is its own image
    kernel = np.full((1, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype)
    out, _ = conv2d_forward(x_folded, kernel, np.zeros(1, dtype=x.dtype), stride=(sh, sw))
    return out.reshape(n, c, out.shape[2], out.shape[3])  # (N, C, H', W')
    ### END SOLUTION
