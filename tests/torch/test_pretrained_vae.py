"""The shipped VAE: registered, its bounds re-measured on a subset, its targets; the studies."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest

from course_lib import data, registry
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.vae import ConvVAE
from course_lib.torch_nn.vae_study import BETAS, COLLAPSE_SETTINGS
from course_lib.torch_nn.vae_training import binarized, vae_metrics

pytestmark = pytest.mark.ch07


def test_registry_entry_names_the_command_and_metrics():
    entry = registry.checkpoint("vae")
    command = "COURSE_PROFILE=full python -m course_lib.torch_nn.train vae"
    assert entry["command"].startswith(command)
    for key in ("test_neg_elbo", "test_nll"):
        assert key in entry["metrics"]
    for key in ("n", "k", "neg_elbo", "nll"):
        assert key in entry["check"]
    assert entry["check"]["n"] < 10_000


def test_shipped_vae_bounds_are_ordered():
    m = registry.checkpoint("vae")["metrics"]
    assert m["test_nll"] < m["test_neg_elbo"]  # the IWAE bound is the tighter one
    assert math.isclose(m["test_rec"] + m["test_kl"], m["test_neg_elbo"], rel_tol=1e-4)


@pytest.mark.xfail(strict=True, reason=(
    "issue 11: trained 40 epochs on 2 CPU cores, the shipped VAE reaches NLL 233.8 and -ELBO "
    "237.2, not 232 and 236 (its validation bound was still falling); drop this mark when a "
    "retrained checkpoint meets the target"))
def test_shipped_vae_meets_the_targets():
    """Issue 11: on the 10,000 test pictures binarised with seed 0, NLL <= 232, -ELBO <= 236."""
    m = registry.checkpoint("vae")["metrics"]
    assert m["test_nll"] <= 232 and m["test_neg_elbo"] <= 236


@pytest.mark.slow
def test_shipped_vae_bounds_re_measured_on_a_subset():
    vae = load_pretrained("vae")  # checks SHA-256 and size against the registry
    assert isinstance(vae, ConvVAE) and not vae.training and vae.latent_dim == 16
    try:
        data.load_fashion_mnist("test", download=False)
    except data.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not available here")
    check = registry.checkpoint("vae")["check"]
    test, _ = fashion_mnist("test", limit=check["n"])
    m = vae_metrics(vae, binarized(test, seed=0), k=check["k"], seed=0)
    for key in ("neg_elbo", "nll", "rec", "kl"):
        # the same weights and noise on another CPU differ by rounding at most
        assert math.isclose(m[key], check[key], rel_tol=2e-3, abs_tol=0.05), (key, m[key], check)
    assert m["active_units"] == check["active_units"]


def test_studies_file_matches_the_study_settings():
    """assets/vae_studies.json, written by benchmarks/bench_vae.py, read by notebook 7.4."""
    text = resources.files("course_lib").joinpath("assets/vae_studies.json").read_text()
    studies = json.loads(text)
    assert [r["beta"] for r in studies["beta"]] == list(BETAS)
    assert [r["setting"] for r in studies["collapse"]] == [s for s, _ in COLLAPSE_SETTINGS]
    for r in studies["beta"] + studies["collapse"]:
        assert len(r["kl_per_dim"]) == 16 and r["nll"] < r["neg_elbo"] + 1
        assert math.isclose(sum(r["kl_per_dim"]), r["kl"], rel_tol=1e-3)
        assert math.isclose(r["rec"] + r["kl"], r["neg_elbo"], rel_tol=1e-6)
