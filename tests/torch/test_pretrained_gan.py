"""The shipped GAN checkpoints: registered, within budget, their metrics re-measured."""

from __future__ import annotations

import math

import pytest

from course_lib import data, registry
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.gan import Generator
from course_lib.torch_nn.gan_training import gan_metrics

pytestmark = pytest.mark.ch06

GANS = {"dcgan": 0, "cgan": 10}  # name: num_classes


@pytest.mark.parametrize("name", GANS)
def test_registry_entry_names_the_command_and_metrics(name):
    entry = registry.checkpoint(name)
    assert entry["command"].startswith(
        f"COURSE_PROFILE=full python -m course_lib.torch_nn.train {name}")
    for key in ("fd", "precision", "recall"):
        assert key in entry["metrics"] and key in entry["check"]
    assert entry["check"]["n"] < 10_000  # the subset the test below re-measures
    assert ("class_accuracy" in entry["metrics"]) == bool(GANS[name])


def test_all_shipped_checkpoints_stay_within_10_mb():
    total = sum(e["size"] for e in registry.load_registry()["checkpoints"].values())
    assert total <= 10 * 2**20


NOT_YET = pytest.mark.xfail(strict=True, reason=(
    "issue 10: trained on 2 CPU cores, the shipped GANs reach 0.36x (dcgan) and 0.60x (cgan) "
    "the blur baseline, not 0.25x; drop this mark when a retrained checkpoint meets the target"))


@NOT_YET
def test_shipped_cgan_draws_the_class_asked_for():
    """Issue 10: class accuracy at least 90 % (the shipped cgan: 89.3 %)."""
    assert registry.checkpoint("cgan")["metrics"]["class_accuracy"] >= 0.90


@pytest.mark.parametrize("name", [pytest.param(n, marks=NOT_YET) for n in GANS])
def test_shipped_gan_meets_the_target_against_the_blur_baseline(name):
    """Issue 10: FD at most 0.25 x the blur-sigma=1 baseline, both on the 10,000 test pictures."""
    entry = registry.checkpoint(name)
    assert entry["metrics"]["fd"] <= 0.25 * entry["baseline_blur_fd"]


@pytest.mark.slow
@pytest.mark.parametrize("name", GANS)
def test_shipped_gan_metrics_re_measured_on_a_subset(name):
    G = load_pretrained(name)  # checks SHA-256 and size against the registry
    assert isinstance(G, Generator) and not G.training and G.num_classes == GANS[name]
    try:
        data.load_fashion_mnist("test", download=False)
    except data.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not available here")
    check = registry.checkpoint(name)["check"]
    test, _ = fashion_mnist("test", limit=check["n"])
    metrics = gan_metrics(G, test.numpy(), seed=0)
    for key, value in metrics.items():
        # the same weights on another CPU give pictures that differ by rounding at most
        assert math.isclose(value, check[key], rel_tol=0.03, abs_tol=0.01), (key, value, check)
