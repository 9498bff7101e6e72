"""Chapter 9's networks, degradations, inpainting, classical baselines and training tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import restoration as R
from course_lib.exercises.ch01 import sobel_magnitude
from course_lib.torch_nn import train
from course_lib.torch_nn.gan import Generator
from course_lib.torch_nn.restore import (
    ESPCN,
    DnCNN,
    PatchDiscriminator,
    Pix2Pix,
    UNet,
    add_noise,
    bicubic_upscale2x,
    downscale2x,
    icnr_,
    inpaint,
    sobel_edges,
)
from course_lib.torch_nn.restore_training import (
    NATURAL_HELD_OUT,
    NATURAL_TRAIN,
    RestoreConfig,
    natural_patches,
    noisy,
)
from course_lib.torch_nn.vae import ConvVAE

pytestmark = pytest.mark.ch09


def pictures(n=2, h=12, w=16, seed=0):
    return torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------
# Degradations
# ---------------------------------------------------------------------------


def test_add_noise_clips_takes_one_sigma_per_picture_and_rejects_negative():
    x = pictures()
    assert torch.equal(add_noise(x, 0.0), x)
    y = add_noise(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert y.min() >= 0 and y.max() <= 1 and not torch.equal(y, x)
    per = add_noise(x, torch.tensor([0.0, 0.3]), clip=False)
    assert torch.equal(per[0], x[0]) and not torch.equal(per[1], x[1])
    raw = add_noise(x, 0.1, generator=torch.Generator().manual_seed(3), clip=False)
    assert (raw - x).std().item() == pytest.approx(0.1, rel=0.25)
    with pytest.raises(ValueError, match="sigma"):
        add_noise(x, -0.1)


def test_the_evaluation_noise_is_seeded_and_the_same_draw_for_every_sigma():
    x = torch.full((3, 1, 8, 8), 0.5)
    a, b = noisy(x, 15, seed=0), noisy(x, 15, seed=0)
    assert torch.equal(a, b) and not torch.equal(a, noisy(x, 15, seed=1))
    # away from the clipping, sigma 30's deviation is twice sigma 15's, pixel by pixel
    torch.testing.assert_close(noisy(x, 30, seed=0) - 0.5, 2 * (a - 0.5), atol=1e-6, rtol=0)


def test_downscale_keeps_constants_and_needs_even_sides():
    x = torch.full((1, 1, 8, 6), 0.3)
    torch.testing.assert_close(downscale2x(x), torch.full((1, 1, 4, 3), 0.3))
    assert bicubic_upscale2x(downscale2x(x)).shape == x.shape
    with pytest.raises(ValueError, match="even"):
        downscale2x(torch.zeros(1, 1, 7, 8))


@settings(max_examples=20, deadline=None)
@given(h=st.integers(3, 12), w=st.integers(3, 12), seed=st.integers(0, 1000))
def test_sobel_edges_is_chapter_1s_magnitude_inside_the_border(h, w, seed):
    x = pictures(1, h, w, seed).double()
    edges = sobel_edges(x)[0, 0].numpy()
    expected = sobel_magnitude(x[0, 0].numpy()) / (4 * math.sqrt(2))
    np.testing.assert_allclose(edges[1:-1, 1:-1], expected, atol=1e-12)
    assert edges.shape == (h, w) and 0 <= edges.min() and edges.max() <= 1


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------


def test_dncnn_subtracts_its_predicted_noise_and_takes_any_size():
    net = DnCNN(depth=3, width=4).eval()
    for h, w in ((9, 13), (28, 28)):
        y = pictures(2, h, w)
        out = net(y)
        assert out.shape == y.shape and out.min() >= 0 and out.max() <= 1
        torch.testing.assert_close(out, (y - net.residual(y)).clamp(0, 1))
    net.train()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    with pytest.raises(ValueError, match="depth"):
        DnCNN(depth=2)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net(torch.zeros(2, 3, 8, 8))


def test_icnr_makes_the_shuffled_output_blockwise_constant_no_checkerboard():
    net = ESPCN(widths=(4, 4), residual=False).eval()
    out = net(pictures(1, 6, 5))
    assert out.shape == (1, 1, 12, 10)
    blocks = [out[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
    for b in blocks[1:]:
        torch.testing.assert_close(b, blocks[0])
    w = torch.empty(12, 3, 3, 3)
    icnr_(w, 2)
    assert torch.equal(w[0], w[3]) and not torch.equal(w[0], w[4])
    with pytest.raises(ValueError, match="multiple"):
        icnr_(torch.empty(6, 3, 3, 3), 2)


def test_residual_espcn_starts_near_bicubic():
    x = pictures(2, 14, 14)
    net = ESPCN(widths=(8, 8)).eval()
    gap = (net(x) - bicubic_upscale2x(x)).abs().max()
    assert gap < 0.2


def test_unet_and_patch_discriminator_shapes():
    g, d = UNet(width=4), PatchDiscriminator(width=4)
    e = pictures(3, 28, 28)
    x = g(e)
    assert x.shape == e.shape and 0 <= x.min() and x.max() <= 1
    assert d(e, x).shape == (3, 1, 7, 7)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(pictures(1, 30, 28))
    assert Pix2Pix(width=4, d_width=4)(e).shape == e.shape
    ups = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert not ups  # upsample-then-convolve, no checkerboard


# ---------------------------------------------------------------------------
# Inpainting
# ---------------------------------------------------------------------------


def _vae():
    torch.manual_seed(0)
    return ConvVAE(latent_dim=4, width=4)


def test_inpaint_keeps_known_pixels_exactly_and_lowers_the_energy():
    vae = _vae()
    x = pictures(3, 28, 28)
    mask = torch.from_numpy(R.centre_mask(28, 12))
    out, codes, final = inpaint(vae, x, mask, steps=30, return_codes=True)
    known = mask.bool().expand_as(x)
    assert torch.equal(out[known], x[known])
    assert not torch.equal(out[~known], x[~known]) and codes.shape == (3, 4)
    _, _, few = inpaint(vae, x, mask, steps=1, return_codes=True)
    assert (final < few).all()  # Adam lowered E(z) for every picture
    assert all(p.requires_grad for p in vae.parameters()) and vae.training  # restored


def test_inpaint_with_a_generator_and_bad_masks():
    torch.manual_seed(0)
    gen = Generator(latent_dim=8, width=8)
    x = pictures(2, 28, 28)
    mask = torch.from_numpy(R.random_mask((28, 28), 0.5, seed=0))
    out = inpaint(gen, x, mask, steps=5, restarts=2)
    assert torch.equal(out[mask.bool().expand_as(x)], x[mask.bool().expand_as(x)])
    with pytest.raises(ValueError, match="only 0"):
        inpaint(gen, x, mask * 0.5, steps=1)
    with pytest.raises(ValueError, match="broadcast"):
        inpaint(gen, x, torch.ones(27, 28), steps=1)
    with pytest.raises(ValueError, match="labels"):
        inpaint(Generator(latent_dim=8, width=8, num_classes=10), x, mask, steps=1)
    with pytest.raises(ValueError, match="VAE"):
        inpaint(torch.nn.Linear(2, 2), x, mask, steps=1)


def test_inpaint_restarts_can_only_help():
    vae, x = _vae(), pictures(2, 28, 28, seed=5)
    mask = torch.from_numpy(R.centre_mask(28, 12))
    _, _, one = inpaint(vae, x, mask, steps=10, restarts=1, return_codes=True)
    _, _, four = inpaint(vae, x, mask, steps=10, restarts=4, return_codes=True)
    assert (four <= one + 1e-4).all()  # the first restart is the same code in both


# ---------------------------------------------------------------------------
# Classical baselines and measures
# ---------------------------------------------------------------------------


def test_psnr_and_ssim_agree_with_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    clean = rng.random((3, 20, 20))
    noisy_ = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    p = R.psnr(noisy_, clean)
    for i in range(3):
        assert p[i] == pytest.approx(peak_signal_noise_ratio(clean[i], noisy_[i], data_range=1))
        assert R.ssim(noisy_, clean)[i] == pytest.approx(
            structural_similarity(noisy_[i], clean[i], data_range=1))
    assert np.isinf(R.psnr(clean[0], clean[0])[0])
    with pytest.raises(ValueError, match="differ"):
        R.psnr(clean[:2], clean)


@pytest.mark.parametrize("method", ["gaussian", "median", "tv", "bm3d"])
def test_classical_denoisers_reduce_noise(method):
    rng = np.random.default_rng(1)
    clean = np.tile(np.linspace(0, 1, 24), (24, 1))[None]  # a smooth ramp
    noisy_ = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    param = {"gaussian": 1.0, "median": 3, "tv": 0.1, "bm3d": 0.1}[method]
    out = R.denoise(method, noisy_, param)
    assert out.shape == noisy_.shape and out.min() >= 0 and out.max() <= 1
    assert R.psnr(out, clean)[0] > R.psnr(noisy_, clean)[0] + 2


def test_tune_picks_the_best_parameter_of_its_grid():
    rng = np.random.default_rng(2)
    clean = np.tile(np.linspace(0, 1, 16), (2, 16, 1))
    noisy_ = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    best, scores = R.tune("gaussian", clean, noisy_, grid=(0.3, 1.0, 3.0))
    assert best == max(scores, key=scores.get) and set(scores) == {0.3, 1.0, 3.0}
    with pytest.raises(ValueError, match="sigma"):
        R.tune("bm3d", clean, noisy_)
    with pytest.raises(ValueError, match="unknown denoiser"):
        R.denoise("wiener", noisy_, 1.0)


def test_biharmonic_keeps_known_pixels_and_fills_a_ramp():
    ramp = np.tile(np.linspace(0, 1, 20), (20, 1))
    mask = R.centre_mask(20, 6)
    out = R.biharmonic_inpaint(ramp, mask)
    assert np.array_equal(out[mask == 1], ramp[mask == 1])
    np.testing.assert_allclose(out, ramp, atol=0.02)  # a linear ramp is biharmonic
    assert R.centre_mask(28, 12).sum() == 28 * 28 - 144
    m = R.random_mask((100, 100), 0.3, seed=0)
    assert abs(m.mean() - 0.3) < 0.03 and np.array_equal(m, R.random_mask((100, 100), 0.3))


# ---------------------------------------------------------------------------
# Training tasks
# ---------------------------------------------------------------------------


def test_natural_patches_come_from_training_pictures_only():
    assert not set(NATURAL_TRAIN) & set(NATURAL_HELD_OUT)
    p = natural_patches(6, seed=1)
    assert p.dtype == torch.uint8 and p.shape == (6, 28, 28)
    assert torch.equal(p, natural_patches(6, seed=1))


def test_profiles_give_sensible_presets():
    for kind in ("denoise", "sr2x", "pix2pix"):
        smoke, full = (RestoreConfig.for_profile(kind, p) for p in ("smoke", "full"))
        assert smoke.epochs <= full.epochs and full.val_size and full.patience
    assert RestoreConfig.for_profile("pix2pix", "full").patches == 0
    with pytest.raises(ValueError, match="kind"):
        RestoreConfig.for_profile("deblur", "smoke")


@pytest.mark.parametrize("task, first", [("denoise", "test_psnr_15"), ("sr2x", "test_psnr"),
                                         ("pix2pix", "test_l1")])
def test_commands_train_save_and_evaluate(task, first, tmp_path, capsys):
    args = [task, "--profile", "smoke", "--fake-data", "--max-steps", "3", "--out",
            str(tmp_path), "--no-progress"]
    if task == "pix2pix":
        args += ["--gan-weight", "0.5"]
    assert train.main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    values = dict(kv.split("=") for kv in line.split())
    assert line.startswith(first) and values["steps"] == "3"
    assert all(np.isfinite(float(v)) for v in values.values())
    final = {"denoise": "denoiser.pt", "sr2x": "sr2x.pt", "pix2pix": "pix2pix.pt"}[task]
    assert (tmp_path / final).exists()
    assert train.main([task, "--eval-only", "--checkpoint", str(tmp_path / final),
                       "--fake-data"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(first)


def test_l1_only_pix2pix_trains_no_discriminator(tmp_path, capsys):
    args = ["pix2pix", "--profile", "smoke", "--fake-data", "--max-steps", "2", "--gan-weight",
            "0", "--out", str(tmp_path), "--no-progress"]
    assert train.main(args) == 0
    assert (tmp_path / "pix2pix-l1.pt").exists()
    with pytest.raises(SystemExit):  # argparse: "--gan-weight: must be a finite number >= 0"
        train.main(["pix2pix", "--profile", "smoke", "--fake-data", "--gan-weight", "-1"])


def _run(kind, tmp_path, **kw):
    from course_lib.torch_nn.datasets import fashion_mnist, train_val_split
    from course_lib.torch_nn.loop import fit, set_seed
    from course_lib.torch_nn.zoo import build_model

    cfg = RestoreConfig.for_profile(kind, "smoke")
    cfg.fake_data, cfg.progress, cfg.epochs, cfg.train_limit = True, False, 2, 160
    for k, v in kw.items():
        setattr(cfg, k, v)
    set_seed(0)
    model = build_model(cfg.model, **cfg.model_kwargs)
    full = fashion_mnist("train", limit=160, fake=True)
    tr, val = train_val_split(*full, val_size=32, seed=0)
    history = fit(model, tr, config=cfg, eval_data=val, device=torch.device("cpu"))
    return model, history


@pytest.mark.parametrize("kind", ["denoise", "pix2pix"])
def test_resumed_run_ends_where_the_uninterrupted_one_does(kind, tmp_path):
    full, h_full = _run(kind, tmp_path)
    _run(kind, tmp_path, max_steps=5, checkpoint_dir=str(tmp_path), checkpoint_every=3)
    resumed, h_res = _run(kind, tmp_path, resume=str(tmp_path / "last.pt"))
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert h_res.values == h_full.values and h_res.evals == h_full.evals
    assert h_res.summary == h_full.summary


# ---------------------------------------------------------------------------
# The comparisons of the notebooks and the benchmark
# ---------------------------------------------------------------------------


def test_denoising_comparison_tunes_on_validation_and_scores_every_method():
    from course_lib.torch_nn.restore_eval import denoising_comparison, format_table

    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 1, 16), (16, 1))
    clean = np.clip(ramp[None] + 0.05 * rng.standard_normal((3, 16, 16)), 0, 1)
    comp = denoising_comparison(clean, model=DnCNN(depth=3, width=4), val_clean=clean[:2],
                                sigmas=(25,), methods=("gaussian", "tv"),
                                grids={"gaussian": (0.5, 1.0)})
    methods = [r["method"] for r in comp.rows]
    assert methods == ["noisy", "gaussian", "tv", "dncnn"]
    assert comp.value("gaussian", 25, "param") in (0.5, 1.0)
    assert comp.outputs[("tv", 25)].shape == clean.shape
    assert comp.value("tv", 25) > comp.value("noisy", 25)
    table = format_table(comp.rows)
    assert "dncnn" in table and "25" in table.splitlines()[0]
    with pytest.raises(KeyError):
        comp.value("bm3d", 25)


def test_sr_and_inpainting_comparisons():
    from course_lib.torch_nn.restore_eval import inpainting_comparison, sr_comparison

    clean = pictures(2, 28, 28)[:, 0].double().numpy()
    sr = sr_comparison(clean, model=ESPCN(widths=(4, 4)))
    assert sr.outputs[("input", "x2")].shape == (2, 14, 14)
    assert {r["method"] for r in sr.rows} == {"bicubic", "espcn"}
    masks = {"centre": R.centre_mask(28, 12)}
    inp = inpainting_comparison(clean, masks=masks, models={"vae": _vae()}, steps=2, restarts=1)
    out = inp.outputs[("vae", "centre")]
    assert np.array_equal(out[:, masks["centre"] == 1], clean[:, masks["centre"] == 1])
    assert "ssim" not in inp.rows[0]  # on the hole only: PSNR
