"""Chapter 9's shipped networks: registered, re-measured on test pictures; the issue's targets."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from course_lib import registry
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.restore import ESPCN, DnCNN, UNet
from course_lib.torch_nn.restore_training import restore_metrics

pytestmark = pytest.mark.ch09

SHIPPED = {"denoiser": ("denoise", DnCNN), "sr2x": ("sr2x", ESPCN), "pix2pix": ("pix2pix", UNet),
           "pix2pix-l1": ("pix2pix", UNet)}
METRICS = {"denoise": ("test_psnr_15", "test_psnr_25", "test_psnr_50", "test_natural_psnr_25"),
           "sr2x": ("test_psnr", "test_bicubic_psnr", "test_natural_psnr"),
           "pix2pix": ("test_l1", "test_fd")}


def _results() -> dict:
    """The benchmark's tables (benchmarks/bench_restore.py, 500 test pictures), shipped."""
    return json.loads(resources.files("course_lib").joinpath(
        "assets/restoration_results.json").read_text())


def _row(rows, method, setting):
    return next(r for r in rows if r["method"] == method and r["setting"] == setting)


@pytest.mark.parametrize("name", SHIPPED)
def test_registry_entry_names_the_command_and_metrics(name):
    kind, _ = SHIPPED[name]
    entry = registry.checkpoint(name)
    assert entry["command"].startswith(
        f"COURSE_PROFILE=full python -m course_lib.torch_nn.train {kind}")
    assert ("--gan-weight 0" in entry["command"]) == (name == "pix2pix-l1")
    for key in METRICS[kind]:
        assert key in entry["metrics"], key
    assert entry["check"]["n"] <= 500 and entry["metrics"]["seconds"] > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_network_re_measured_on_test_pictures(name):
    kind, cls = SHIPPED[name]
    model = load_pretrained(name)  # checks SHA-256 and size against the registry
    assert isinstance(model, cls) and not model.training
    check = registry.checkpoint(name)["check"]
    test, _ = fashion_mnist("test", limit=check["n"])
    measured = restore_metrics(kind, model, test)
    for key, value in check.items():
        if key != "n":
            # the same weights on another CPU differ by rounding at most
            assert measured[key] == pytest.approx(value, rel=2e-3, abs=1e-3), key


def test_the_benchmark_tables_agree_with_the_registry():
    res = _results()
    den = registry.checkpoint("denoiser")["metrics"]
    for s in (15, 25, 50):
        assert _row(res["denoise"]["rows"], "dncnn", s)["psnr"] == pytest.approx(
            den[f"test_psnr_{s}"], abs=0.01)
        assert _row(res["denoise"]["rows"], "noisy", s)["psnr"] == pytest.approx(
            den[f"test_noisy_psnr_{s}"], abs=0.01)
    sr = registry.checkpoint("sr2x")["metrics"]
    assert _row(res["sr"]["rows"], "espcn", "x2")["psnr"] == pytest.approx(sr["test_psnr"],
                                                                         abs=0.01)
    assert _row(res["sr"]["rows"], "bicubic", "x2")["psnr"] == pytest.approx(
        sr["test_bicubic_psnr"], abs=0.01)


def test_denoiser_beats_bm3d_by_1_db_at_sigma_25_and_at_15_and_50():
    """Issue 13: at least BM3D + 1 dB at sigma 25, ahead of BM3D at 15 and 50 (500 pictures)."""
    rows = _results()["denoise"]["rows"]
    gain = {s: _row(rows, "dncnn", s)["psnr"] - _row(rows, "bm3d", s)["psnr"] for s in (15, 25, 50)}
    assert gain[25] >= 1.0 and gain[15] > 0 and gain[50] > 0, gain


def test_sr2x_beats_bicubic_by_2_db():
    """Issue 13: x2 super-resolution at least bicubic + 2 dB on Fashion-MNIST."""
    m = registry.checkpoint("sr2x")["metrics"]
    assert m["test_psnr"] - m["test_bicubic_psnr"] >= 2.0


def test_vae_inpainting_beats_biharmonic_by_1_db_on_the_centred_hole():
    """Issue 13: VAE inpainting of a centred 12 x 12 hole, PSNR on the hole >= biharmonic + 1 dB."""
    rows = _results()["inpaint"]["rows"]
    hole = "centre 12x12"
    assert _row(rows, "vae", hole)["psnr"] >= _row(rows, "biharmonic", hole)["psnr"] + 1.0


def test_pix2pix_gan_term_lowers_the_frechet_distance():
    gan, l1 = (registry.checkpoint(n)["metrics"] for n in ("pix2pix", "pix2pix-l1"))
    assert gan["test_fd"] < l1["test_fd"]
    assert l1["test_l1"] <= gan["test_l1"] * 1.05  # L1 alone minimises L1 (within noise)
