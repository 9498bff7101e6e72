"""Tests of course_lib.viz: make_grid's tiling, what each figure helper draws,
bad input, and that the module touches no global matplotlib state."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_lib import viz

REPO = Path(__file__).resolve().parents[1]
H, W = 5, 7  # H != W and neither is 1, 3 or 4, so a swapped or misread axis shows


def distinct(shape: tuple[int, ...], offset: float = 0.0) -> np.ndarray:
    """Float64 values in (0, 1), all different, so every pixel can be traced."""
    n = math.prod(shape)
    return (np.arange(n, dtype=np.float64).reshape(shape) + 1.0 + offset) / 1000.0


def images_of(fig: Figure) -> list:
    return [im for ax in fig.axes for im in ax.images]


def data_of(image) -> np.ndarray:
    return np.ma.getdata(image.get_array())


# --------------------------------------------------------------------------- make_grid


def check_tiles(grid: np.ndarray, tiles: list[np.ndarray], ncols: int, padding: int, pad):
    """Every tile sits at its row-major offset; every other pixel equals ``pad``."""
    h, w = tiles[0].shape[:2]
    covered = np.zeros(grid.shape[:2], dtype=bool)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, ncols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        np.testing.assert_array_equal(grid[top : top + h, left : left + w], tile)
        covered[top : top + h, left : left + w] = True
    assert covered.sum() == len(tiles) * h * w  # tiles do not overlap
    assert np.all(grid[~covered] == pad)


@pytest.mark.parametrize(
    ("n", "nrow", "padding", "rows", "cols"),
    [
        (1, 8, 2, 1, 1),
        (5, 8, 2, 1, 5),
        (8, 8, 2, 1, 8),
        (9, 8, 2, 2, 8),
        (7, 3, 1, 3, 3),
        (6, 3, 0, 2, 3),
        (5, 1, 3, 5, 1),
    ],
)
def test_make_grid_shape_grey(n, nrow, padding, rows, cols):
    grid = viz.make_grid(distinct((n, H, W)), nrow=nrow, padding=padding)
    assert grid.shape == (rows * (H + padding) + padding, cols * (W + padding) + padding)


@pytest.mark.parametrize("channels", [3, 4])
def test_make_grid_shape_colour(channels):
    grid = viz.make_grid(distinct((5, H, W, channels)), nrow=2, padding=1)
    assert grid.shape == (3 * (H + 1) + 1, 2 * (W + 1) + 1, channels)


def test_make_grid_grey_nhw_tiles_and_padding_value():
    imgs = distinct((7, H, W))
    grid = viz.make_grid(imgs, nrow=3, padding=2, pad_value=-0.5)
    check_tiles(grid, list(imgs), ncols=3, padding=2, pad=-0.5)
    # The last row has two empty slots, which hold the padding value too.
    assert np.all(grid[-(H + 2) :, 2 * (W + 2) + 2 :] == -0.5)


def test_make_grid_default_padding_and_pad_value():
    imgs = distinct((5, H, W))  # not 3 or 4: that would be one colour (C, H, W) image
    grid = viz.make_grid(imgs)
    assert grid.shape == (H + 4, 5 * (W + 2) + 2)
    check_tiles(grid, list(imgs), ncols=5, padding=2, pad=1.0)


def test_make_grid_without_padding_is_a_plain_concatenation():
    imgs = distinct((6, H, W))
    grid = viz.make_grid(imgs, nrow=3, padding=0)
    expected = np.block([[imgs[0], imgs[1], imgs[2]], [imgs[3], imgs[4], imgs[5]]])
    np.testing.assert_array_equal(grid, expected)


def test_make_grid_nchw_is_read_as_colour():
    imgs = distinct((5, 3, H, W))
    grid = viz.make_grid(imgs, nrow=2, padding=1, pad_value=0.25)
    assert grid.shape == (3 * (H + 1) + 1, 2 * (W + 1) + 1, 3)
    check_tiles(grid, [np.moveaxis(im, 0, -1) for im in imgs], ncols=2, padding=1, pad=0.25)


@pytest.mark.parametrize("channels", [3, 4])
def test_make_grid_nhwc_colour(channels):
    imgs = distinct((3, H, W, channels))
    grid = viz.make_grid(imgs, nrow=2, padding=2, pad_value=0.0)
    check_tiles(grid, list(imgs), ncols=2, padding=2, pad=0.0)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_make_grid_single_channel_batches_become_grey(layout):
    grey = distinct((4, H, W))
    imgs = grey[:, None] if layout == "NCHW" else grey[..., None]
    grid = viz.make_grid(imgs, nrow=4, padding=1, pad_value=0.0)
    assert grid.ndim == 2
    check_tiles(grid, list(grey), ncols=4, padding=1, pad=0.0)


def test_make_grid_list_of_mixed_layouts():
    a, b, c = distinct((H, W, 3)), distinct((3, H, W), 1.0), distinct((H, W, 3), 2.0)
    grid = viz.make_grid([a, b, c], nrow=3, padding=1, pad_value=0.0)
    check_tiles(grid, [a, np.moveaxis(b, 0, -1), c], ncols=3, padding=1, pad=0.0)


def test_make_grid_list_of_grey_images():
    imgs = [distinct((H, W), 10.0 * k) for k in range(3)]
    grid = viz.make_grid(imgs, nrow=2, padding=1, pad_value=0.0)
    check_tiles(grid, imgs, ncols=2, padding=1, pad=0.0)


def test_make_grid_torch_tensor_with_grad():
    t = torch.rand(5, 3, H, W, dtype=torch.float64, requires_grad=True)
    grid = viz.make_grid(t * 1.0, nrow=4, padding=1, pad_value=0.0)  # a non-leaf tensor
    assert isinstance(grid, np.ndarray)
    tiles = [np.moveaxis(im, 0, -1) for im in t.detach().numpy()]
    check_tiles(grid, tiles, ncols=4, padding=1, pad=0.0)


def test_make_grid_list_of_torch_tensors():
    ts = [torch.full((1, H, W), float(k)) for k in range(3)]
    grid = viz.make_grid(ts, nrow=3, padding=1, pad_value=-1.0)
    check_tiles(grid, [np.full((H, W), float(k)) for k in range(3)], ncols=3, padding=1, pad=-1)


@pytest.mark.gpu
def test_make_grid_cuda_tensor():
    t = torch.rand(3, 3, H, W, device="cuda")
    grid = viz.make_grid(t, nrow=3, padding=1, pad_value=0.0)
    check_tiles(grid, list(t.permute(0, 2, 3, 1).cpu().numpy()), ncols=3, padding=1, pad=0.0)


def test_make_grid_dtype():
    assert viz.make_grid(distinct((2, H, W))).dtype == np.float64
    assert viz.make_grid(distinct((2, H, W)).astype(np.float32)).dtype == np.float32
    grid = viz.make_grid(np.full((2, H, W), 200, dtype=np.uint8), pad_value=0.5)
    assert np.issubdtype(grid.dtype, np.floating)  # so a fractional pad value survives
    assert set(np.unique(grid)) == {0.5, 200.0}


def test_make_grid_does_not_modify_its_input():
    imgs = distinct((5, H, W))
    before = imgs.copy()
    grid = viz.make_grid(imgs)
    grid[...] = 0.0
    np.testing.assert_array_equal(imgs, before)


def test_make_grid_rejects_images_of_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        viz.make_grid([distinct((H, W)), distinct((W, H))])
    with pytest.raises(ValueError, match="same shape"):
        viz.make_grid([distinct((H, W)), distinct((H, W, 3))])


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2, 3, H, W)), np.zeros(5), np.zeros((2, H, W, 2)), [np.zeros((H, W, 2))]]
)
def test_make_grid_rejects_bad_shapes(bad):
    with pytest.raises(ValueError):
        viz.make_grid(bad)


# --------------------------------------------------------------------------- show_images


def test_show_images_grey_batch_layout_titles_and_data():
    imgs = distinct((5, H, W))
    titles = [f"image {k}" for k in range(5)]
    fig = viz.show_images(imgs, titles)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 8  # ncols defaults to min(5, 4) = 4, so 2 rows of 4
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5
    assert all(len(ax.images) == 1 for ax in drawn)
    assert [ax.get_title() for ax in drawn] == titles
    for ax, img in zip(drawn, imgs, strict=True):
        np.testing.assert_array_equal(data_of(ax.images[0]), img)
        assert ax.images[0].get_cmap().name == "gray"
        assert ax.images[0].get_clim() == (img.min(), img.max())  # each panel its own range
    # Row-major order: image 4 starts the second row.
    spec = drawn[4].get_subplotspec()
    assert (spec.rowspan.start, spec.colspan.start) == (1, 0)
    # The three spare panels are blank and hidden.
    spare = [ax for ax in fig.axes if not ax.images]
    assert len(spare) == 3 and not any(ax.axison for ax in spare)


@pytest.mark.parametrize(("n", "ncols", "n_axes"), [(1, None, 1), (3, 2, 4), (3, 10, 3), (4, 1, 4)])
def test_show_images_grid_size(n, ncols, n_axes):
    fig = viz.show_images(list(distinct((n, H, W))), ncols=ncols)
    assert len(fig.axes) == n_axes
    assert len(images_of(fig)) == n


def test_show_images_single_2d_image():
    img = distinct((H, W))
    fig = viz.show_images(img, ["one"])
    assert len(fig.axes) == 1
    assert fig.axes[0].get_title() == "one"
    np.testing.assert_array_equal(data_of(fig.axes[0].images[0]), img)


def test_show_images_colour_nchw_batch_is_clipped_to_unit_range(caplog):
    rng = np.random.default_rng(0)
    imgs = rng.uniform(-0.5, 1.5, size=(2, 3, H, W))
    fig = viz.show_images(imgs, ["a", "b"])
    # viz clips itself, so matplotlib has nothing to clip (and logs no complaint).
    assert "Clipping input data" not in caplog.text
    drawn = images_of(fig)
    assert len(drawn) == 2
    for image, img in zip(drawn, imgs, strict=True):
        np.testing.assert_array_equal(data_of(image), np.clip(np.moveaxis(img, 0, -1), 0, 1))


def test_show_images_colour_uint8_is_not_rescaled():
    img = (np.arange(H * W * 3) % 256).astype(np.uint8).reshape(H, W, 3)
    fig = viz.show_images(img)
    assert len(images_of(fig)) == 1  # (H, W, 3) is one colour image, not three grey ones
    np.testing.assert_array_equal(data_of(images_of(fig)[0]), img)


def test_show_images_torch_grey_nchw_batch():
    t = torch.rand(3, 1, H, W, requires_grad=True)
    fig = viz.show_images(t)
    drawn = images_of(fig)
    assert len(drawn) == 3
    for image, img in zip(drawn, t.detach().numpy(), strict=True):
        np.testing.assert_array_equal(data_of(image), img[0])


def test_show_images_list_of_three_grey_images_stays_three_panels():
    imgs = [distinct((H, W), k) for k in range(3)]
    fig = viz.show_images(imgs)
    assert len(images_of(fig)) == 3


@pytest.mark.parametrize(
    ("shape", "n_panels", "colour"),
    [
        ((3, H, W), 1, True),
        ((4, H, W), 1, True),
        ((H, W, 3), 1, True),
        ((H, W, 4), 1, True),
        ((2, H, W), 2, False),
        ((3, H, 2), 3, False),
        ((1, H, W), 1, False),
    ],
)
def test_show_images_3d_ambiguity_rule(shape, n_panels, colour):
    """The module docstring's rule for reading a 3-D array."""
    fig = viz.show_images(distinct(shape))
    drawn = images_of(fig)
    assert len(drawn) == n_panels
    assert all((data_of(im).ndim == 3) == colour for im in drawn)


def test_show_images_per_image_cmap_and_limits():
    imgs = [distinct((H, W)), distinct((H, W)) - 0.5]
    fig = viz.show_images(imgs, cmap=["gray", "RdBu_r"], vmin=[None, -1.0], vmax=[None, 1.0])
    first, second = images_of(fig)
    assert first.get_cmap().name == "gray"
    assert first.get_clim() == (imgs[0].min(), imgs[0].max())
    assert second.get_cmap().name == "RdBu_r"
    assert second.get_clim() == (-1.0, 1.0)


def test_show_images_scalar_limits_apply_to_every_panel():
    fig = viz.show_images(distinct((5, H, W)), vmin=0, vmax=1, cmap="viridis")
    assert [im.get_clim() for im in images_of(fig)] == [(0, 1)] * 5
    assert {im.get_cmap().name for im in images_of(fig)} == {"viridis"}


def test_show_images_colorbar_frame_and_suptitle():
    fig = viz.show_images(distinct((2, H, W)), colorbar=True, frame=True, suptitle="top")
    assert len(fig.axes) == 4  # two panels, two colour bars
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    assert all(ax.axison and not ax.get_xticks().size and not ax.get_yticks().size for ax in panels)
    assert fig.get_suptitle() == "top"
    plain = viz.show_images(distinct((2, H, W)))
    assert not any(ax.axison for ax in plain.axes)
    assert plain.get_suptitle() == ""


def test_show_images_colour_images_get_no_colorbar():
    fig = viz.show_images(distinct((2, H, W, 3)), colorbar=True)
    assert len(fig.axes) == 2


def test_show_images_bad_input():
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(distinct((5, H, W)), ["a", "b"])
    with pytest.raises(ValueError, match="cmap"):
        viz.show_images(distinct((5, H, W)), cmap=["gray", "gray"])
    with pytest.raises(ValueError, match="vmin"):
        viz.show_images(distinct((5, H, W)), vmin=[0.0])
    with pytest.raises(ValueError, match="vmax"):
        viz.show_images(distinct((5, H, W)), vmax=(1.0,) * 6)
    with pytest.raises(ValueError):
        viz.show_images(np.zeros((2, 2, 3, H, W)))
    with pytest.raises(ValueError):
        viz.show_images([np.zeros((H, W, 2))])
    with pytest.raises(ValueError, match="nothing to show"):
        viz.show_images([])


# --------------------------------------------------------------------------- image_grid


def test_image_grid_grey():
    imgs = distinct((6, H, W))
    fig = viz.image_grid(imgs, nrow=3, padding=1, pad_value=0.0, vmin=0, vmax=2, title="grid")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.images) == 1
    assert ax.get_title() == "grid"
    assert not ax.axison
    np.testing.assert_array_equal(
        data_of(ax.images[0]), viz.make_grid(imgs, nrow=3, padding=1, pad_value=0.0)
    )
    assert ax.images[0].get_clim() == (0, 2)
    assert ax.images[0].get_cmap().name == "gray"


def test_image_grid_colour_float_is_clipped(caplog):
    imgs = np.random.default_rng(1).uniform(-0.5, 1.5, size=(3, 3, H, W))
    fig = viz.image_grid(torch.from_numpy(imgs), nrow=2, padding=2, pad_value=0.5)
    assert "Clipping input data" not in caplog.text
    data = data_of(fig.axes[0].images[0])
    expected = np.clip(viz.make_grid(imgs, nrow=2, padding=2, pad_value=0.5), 0, 1)
    np.testing.assert_array_equal(data, expected)
    assert fig.axes[0].get_title() == ""


def test_image_grid_colour_uint8_keeps_its_values():
    imgs = np.random.default_rng(2).integers(0, 256, size=(2, H, W, 3), dtype=np.uint8)
    fig = viz.image_grid(imgs, padding=0)
    data = data_of(fig.axes[0].images[0])
    np.testing.assert_array_equal(data, np.concatenate(list(imgs), axis=1))


def test_image_grid_bad_input():
    with pytest.raises(ValueError):
        viz.image_grid(np.zeros((2, 2, 3, H, W)))
    with pytest.raises(ValueError, match="same shape"):
        viz.image_grid([np.zeros((H, W)), np.zeros((H, W + 1))])


# --------------------------------------------------------------------------- show_kernels


def test_show_kernels_list_data_limits_and_annotations():
    ks = [
        np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]),
        np.full((3, 3), 1.0 / 9.0),
        np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    ]
    fig = viz.show_kernels(ks, ["laplace", "box", "sobel"], suptitle="kernels")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["laplace", "box", "sobel"]
    assert fig.get_suptitle() == "kernels"
    for ax, k in zip(fig.axes, ks, strict=True):
        assert len(ax.images) == 1
        image = ax.images[0]
        np.testing.assert_array_equal(data_of(image), k)
        lim = np.abs(k).max()
        assert image.get_clim() == (-lim, lim)  # symmetric about zero
        assert image.get_cmap().name == "RdBu_r"
        texts = ax.texts
        assert len(texts) == 9  # 3x3 kernels are annotated by default
        assert [t.get_text() for t in texts] == [format(v, ".2g") for v in k.ravel()]
        assert [t.get_position() for t in texts] == [(c, r) for r in range(3) for c in range(3)]
    centre = fig.axes[0].texts[4]
    assert centre.get_text() == "4" and centre.get_color() == "white"
    assert fig.axes[0].texts[0].get_color() == "black"


def test_show_kernels_annotation_default_and_override():
    big = distinct((9, 9))
    assert len(viz.show_kernels([big]).axes[0].texts) == 0  # larger than 7x7
    assert len(viz.show_kernels([big], annotate=True).axes[0].texts) == 81
    assert len(viz.show_kernels([distinct((7, 7))]).axes[0].texts) == 49
    assert len(viz.show_kernels([distinct((3, 3))], annotate=False).axes[0].texts) == 0
    texts = viz.show_kernels([np.array([[0.123456]])], fmt=".3f").axes[0].texts
    assert [t.get_text() for t in texts] == ["0.123"]


def test_show_kernels_stack_and_2d():
    stack = distinct((3, 3, 3)) - 0.01
    fig = viz.show_kernels(stack)
    assert len(images_of(fig)) == 3
    for image, k in zip(images_of(fig), stack, strict=True):
        np.testing.assert_array_equal(data_of(image), k)
    assert all(ax.get_title() == "" for ax in fig.axes)
    fig = viz.show_kernels(stack[0], ["only"])
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "only"


def test_show_kernels_weight_tensor_panels_titles_and_layout():
    conv = torch.nn.Conv2d(3, 2, kernel_size=3)  # weight (F=2, C=3, 3, 3), requires grad
    fig = viz.show_kernels(conv.weight)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(drawn) == 6
    w = conv.weight.detach().numpy()
    expected_titles = [f"f={f}, c={c}" for f in range(2) for c in range(3)]
    assert [ax.get_title() for ax in drawn] == expected_titles
    for ax, (f, c) in zip(drawn, [(f, c) for f in range(2) for c in range(3)], strict=True):
        np.testing.assert_allclose(data_of(ax.images[0]), w[f, c])
        spec = ax.get_subplotspec()
        assert (spec.rowspan.start, spec.colspan.start) == (f, c)  # one row per filter


def test_show_kernels_single_channel_weights_wrap_at_six():
    w = distinct((7, 1, 3, 3))
    fig = viz.show_kernels(w, annotate=False)
    assert len(fig.axes) == 12  # ncols = min(7, 6) = 6, two rows
    assert len(images_of(fig)) == 7
    assert fig.axes[0].get_title() == "f=0, c=0" and fig.axes[6].get_title() == "f=6, c=0"
    assert len(viz.show_kernels(w, ncols=4, annotate=False).axes) == 8


def test_show_kernels_zero_kernel_gets_unit_limits():
    fig = viz.show_kernels([np.zeros((3, 3))])
    assert fig.axes[0].images[0].get_clim() == (-1.0, 1.0)


def test_show_kernels_bad_input():
    with pytest.raises(ValueError, match="rank"):
        viz.show_kernels(np.zeros((1, 1, 1, 3, 3)))
    with pytest.raises(ValueError, match="rank"):
        viz.show_kernels(np.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        viz.show_kernels([np.zeros((3, 3)), np.zeros(3)])
    with pytest.raises(ValueError, match="titles"):
        viz.show_kernels([np.zeros((3, 3))] * 2, ["one"])
    with pytest.raises(ValueError, match="titles"):
        viz.show_kernels(np.zeros((2, 2, 3, 3)), ["a", "b"])  # 4 panels
    with pytest.raises(ValueError):
        viz.show_kernels([])


# --------------------------------------------------------------------------- plot_timings


def test_plot_timings_lines_axes_and_labels():
    sizes = [16, 64, 256]
    timings = {
        "loops": [1e-3, None, float("nan")],
        "im2col": [1e-4, 2e-4, 8e-4],
        "skipped": [None, None, None],
    }
    fig = viz.plot_timings(sizes, timings, xlabel="n", ylabel="s", title="speed")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # a method without any measurement draws nothing
    loops, im2col = ax.lines
    assert loops.get_label() == "loops" and im2col.get_label() == "im2col"
    np.testing.assert_array_equal(loops.get_xdata(), [16])
    np.testing.assert_array_equal(loops.get_ydata(), [1e-3])
    np.testing.assert_array_equal(im2col.get_xdata(), sizes)
    np.testing.assert_array_equal(im2col.get_ydata(), [1e-4, 2e-4, 8e-4])
    assert loops.get_marker() != im2col.get_marker()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.get_xticks(), sizes)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "64", "256"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("n", "s", "speed")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loops", "im2col"]


def test_plot_timings_defaults_and_linear_axes():
    fig = viz.plot_timings([1, 2], {"a": [1.0, 2.0]}, logx=False, logy=False)
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert ax.get_xlabel() == "input size" and ax.get_ylabel() == "time per call (s)"
    assert ax.get_title() == ""


def test_plot_timings_length_mismatch():
    with pytest.raises(ValueError, match="'a'"):
        viz.plot_timings([1, 2, 3], {"a": [1.0, 2.0]})


# --------------------------------------------------------------------------- plot_curves


def test_plot_curves_sequences_pairs_and_tensors():
    y1 = [3.0, 2.0, 1.5, 1.2]
    x2, y2 = np.array([0.0, 10.0, 20.0]), torch.tensor([1.0, 0.5, 0.25], requires_grad=True)
    fig = viz.plot_curves(
        {"train": y1, "val": (x2, y2 * 1.0)}, xlabel="epoch", ylabel="loss", title="losses"
    )
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.lines) == 2
    train, val = ax.lines
    np.testing.assert_array_equal(train.get_xdata(), np.arange(4))
    np.testing.assert_array_equal(train.get_ydata(), y1)
    np.testing.assert_array_equal(val.get_xdata(), x2)
    np.testing.assert_array_equal(val.get_ydata(), [1.0, 0.5, 0.25])
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("epoch", "loss", "losses")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]
    assert ax.get_yscale() == "linear"


def test_plot_curves_single_curve_has_no_legend_and_logy():
    fig = viz.plot_curves({"loss": np.array([1.0, 0.1, 0.01])}, logy=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 1
    assert ax.get_legend() is None
    assert ax.get_yscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("step", "value", "")


# --------------------------------------------------------------------------- conv_diagram


def tap_cells(ax) -> dict[tuple, set[tuple[int, int]]]:
    """Cells (row, col) marked on the input panel, grouped by colour."""
    marks: dict[tuple, set[tuple[int, int]]] = {}
    for p in ax.patches:
        if p.get_width() != 1:  # the grid cells are 1x1, the tap marks are inset
            x, y = p.get_xy()
            marks.setdefault(p.get_facecolor(), set()).add((math.floor(y), math.floor(x)))
    return marks


def torch_taps(h, w, k, stride, padding, dilation, i, j) -> set[tuple[int, int]]:
    """Padded-input cells that output (i, j) depends on, from torch's gradient."""
    (kh, kw), (ph, pw) = k, padding
    x = torch.zeros(1, 1, h + 2 * ph, w + 2 * pw, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv2d(
        x, torch.ones(1, 1, kh, kw, dtype=torch.float64), stride=stride, dilation=dilation
    )
    out[0, 0, i, j].backward()
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(x.grad[0, 0].numpy()), strict=True)}


CONFIGS = [
    # input, kernel, stride, padding, dilation
    ((5, 5), (3, 3), (2, 2), (1, 1), (1, 1)),
    ((7, 7), (3, 3), (1, 1), (0, 0), (2, 2)),
    ((5, 6), (3, 2), (1, 2), (0, 1), (1, 1)),
    ((4, 4), (2, 2), (2, 2), (0, 0), (1, 1)),
    ((6, 9), (2, 3), (3, 2), (2, 1), (2, 3)),
]


@pytest.mark.parametrize(("size", "k", "stride", "padding", "dilation"), CONFIGS)
def test_conv_diagram_matches_torch(size, k, stride, padding, dilation):
    fig = viz.conv_diagram(size, k, stride=stride, padding=padding, dilation=dilation)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax_in, ax_out = fig.axes
    out = torch.nn.functional.conv2d(
        torch.zeros(1, 1, *size),
        torch.zeros(1, 1, *k),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    ho, wo = out.shape[-2:]
    hp, wp = size[0] + 2 * padding[0], size[1] + 2 * padding[1]
    in_name = "padded input" if any(padding) else "input"
    assert ax_in.get_title() == f"{in_name} {hp}x{wp}"
    assert ax_out.get_title() == f"output {ho}x{wo}"
    outputs = [(0, 0)] if wo == 1 else [(0, 0), (0, wo - 1)]
    # Input panel: one cell per padded pixel (padding hatched), one mark per tap and output.
    cells = [p for p in ax_in.patches if p.get_width() == 1]
    assert len(cells) == hp * wp
    assert sum(p.get_hatch() is not None for p in cells) == hp * wp - size[0] * size[1]
    assert len(ax_in.patches) == hp * wp + k[0] * k[1] * len(outputs)
    marks = tap_cells(ax_in)
    assert len(marks) == len(outputs)  # one colour per output
    for (i, j), cells_marked in zip(outputs, marks.values(), strict=True):
        assert cells_marked == torch_taps(*size, k, stride, padding, dilation, i, j)
    # Output panel: the grid plus one filled cell per output, in the same colours.
    assert len(ax_out.patches) == ho * wo + len(outputs)
    filled = {p.get_facecolor(): (p.get_y(), p.get_x()) for p in ax_out.patches[ho * wo :]}
    assert list(filled.values()) == outputs
    assert list(filled) == list(marks)


def test_conv_diagram_titles():
    fig = viz.conv_diagram(5, 3, stride=2, padding=1)
    assert fig.get_suptitle() == "kernel 3x3, stride 2, padding 1, dilation 1"
    assert [ax.get_title() for ax in fig.axes] == ["padded input 7x7", "output 3x3"]
    fig = viz.conv_diagram((5, 6), (3, 2), stride=(1, 2), dilation=(2, 1))
    assert fig.get_suptitle() == "kernel 3x2, stride (1, 2), padding 0, dilation (2, 1)"
    assert [ax.get_title() for ax in fig.axes] == ["input 5x6", "output 1x3"]
    assert viz.conv_diagram(4, 2, title="mine").get_suptitle() == "mine"


def test_conv_diagram_chosen_outputs():
    fig = viz.conv_diagram(6, 3, outputs=[(1, 1), (3, 0), (2, 2)])
    ax_in, ax_out = fig.axes
    marks = list(tap_cells(ax_in).values())
    assert len(marks) == 3
    assert marks[0] == {(r, c) for r in range(1, 4) for c in range(1, 4)}
    assert marks[1] == {(r, c) for r in range(3, 6) for c in range(0, 3)}
    assert marks[2] == {(r, c) for r in range(2, 5) for c in range(2, 5)}
    assert [(p.get_y(), p.get_x()) for p in ax_out.patches[16:]] == [(1, 1), (3, 0), (2, 2)]


def test_conv_diagram_bad_input():
    with pytest.raises(ValueError, match="outside"):
        viz.conv_diagram(5, 3, outputs=[(3, 0)])
    with pytest.raises(ValueError, match="outside"):
        viz.conv_diagram(5, 3, outputs=[(0, -1)])
    with pytest.raises(ValueError, match="larger"):
        viz.conv_diagram(5, 6)
    with pytest.raises(ValueError, match="larger"):
        viz.conv_diagram(5, 3, dilation=3)
    viz.conv_diagram(5, 3, dilation=3, padding=1)  # 7 fits in the padded 7x7
    with pytest.raises(ValueError, match="stride"):
        viz.conv_diagram(5, 3, stride=(2.5, 1))
    with pytest.raises(ValueError, match="kernel_size"):
        viz.conv_diagram(5, (3, 3, 3))


def test_conv_diagram_scalar_float_stride_is_a_value_error():
    with pytest.raises(ValueError, match="stride"):
        viz.conv_diagram(5, 3, stride=2.5)


@pytest.mark.xfail(
    strict=True,
    reason="the tap marks of output k are inset by 0.1 + 0.12k, so from the fifth output "
    "on (inset 0.58) their width is negative and they no longer sit inside their cell",
)
def test_conv_diagram_many_outputs_marks_stay_inside_their_cells():
    fig = viz.conv_diagram(8, 3, outputs=[(0, j) for j in range(6)])
    marks = [p for p in fig.axes[0].patches if p.get_width() != 1]
    assert len(marks) == 6 * 9
    for p in marks:
        x, y = p.get_xy()
        assert p.get_width() > 0 and p.get_height() > 0
        assert math.floor(x) == math.floor(x + p.get_width())


# --------------------------------------------------------------------------- global state


def run_python(code: str) -> None:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_import_and_helpers_leave_global_matplotlib_state_alone():
    """Checked in a fresh interpreter: viz imports no pyplot, and neither importing it
    (first without pyplot, then again with a pyplot figure open) nor calling every
    helper changes rcParams or the pyplot figure list."""
    run_python("""
        import importlib
        import sys
        import numpy as np
        import matplotlib
        # Plain dict access: RcParams.__getitem__("backend") would import pyplot itself.
        raw = lambda: {k: dict.__getitem__(matplotlib.rcParams, k)
                       for k in dict.keys(matplotlib.rcParams)}
        before = raw()
        import course_lib.viz
        assert "matplotlib.pyplot" not in sys.modules, "importing viz imported pyplot"
        assert raw() == before, "importing viz changed rcParams"

        import matplotlib.pyplot as plt
        existing = plt.figure()
        rc_before = dict(matplotlib.rcParams)
        nums_before = plt.get_fignums()
        viz = importlib.reload(course_lib.viz)
        assert dict(matplotlib.rcParams) == rc_before, "importing viz changed rcParams"
        assert plt.get_fignums() == nums_before, "importing viz created figures"
        viz.show_images(np.zeros((3, 4, 5)), colorbar=True)
        viz.image_grid(np.zeros((3, 4, 5)))
        viz.show_kernels(np.ones((2, 3, 3)))
        viz.plot_timings([1, 2], {"a": [1.0, 2.0]})
        viz.plot_curves({"a": [1.0, 2.0], "b": [2.0, 1.0]})
        viz.conv_diagram(5, 3, padding=1)
        assert dict(matplotlib.rcParams) == rc_before, "a helper changed rcParams"
        assert plt.get_fignums() == nums_before, "a helper registered a figure with pyplot"
        assert plt.gcf() is existing
        print("ok")
    """)
