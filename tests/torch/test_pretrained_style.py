"""The shipped fast-style network: registered, re-measured on a held-out picture; the selection."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import torch

from course_lib import registry
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.fast_style import TransformerNet
from course_lib.torch_nn.fast_style_training import FastStyleConfig, style_loss_for
from course_lib.torch_nn.style import load_picture
from course_lib.torch_nn.style_networks import OFFLINE_CHOICE

pytestmark = pytest.mark.ch08


def test_registry_entry_names_the_command_and_metrics():
    entry = registry.checkpoint("fast-style")
    assert entry["command"].startswith("COURSE_PROFILE=full python -m course_lib.torch_nn.train "
                                       "fast-style")
    for key in ("test_loss_ratio", "test_fast_loss", "test_gatys_loss", "test_fast_ms_256"):
        assert key in entry["metrics"]
    for key in ("picture", "size", "loss", "content", "style", "tv"):
        assert key in entry["check"]


def test_gatys_optimum_is_below_the_fast_network_and_the_fast_network_is_fast():
    m = registry.checkpoint("fast-style")["metrics"]
    assert m["test_fast_loss"] >= m["test_gatys_loss"]  # Gatys optimises this very loss
    assert m["test_loss_ratio"] == pytest.approx(m["test_fast_loss"] / m["test_gatys_loss"],
                                                 rel=1e-4)
    assert m["test_fast_ms_256"] < 1000 * m["test_gatys_seconds"] / 100
    assert m["seconds"] <= 3600  # issue 12: the full profile within 60 minutes on 2 CPU cores


@pytest.mark.xfail(strict=True, reason=(
    "issue 12: the shipped TransformerNet (width 12, 4 blocks, 51 min of training on 2 CPU "
    "cores) has 6.1x Gatys' loss on the held-out pictures, mostly in the style term; its "
    "validation loss was still falling. Drop this mark when a retrained network meets 1.5x"))
def test_shipped_network_meets_the_loss_target():
    """Issue 12: on the held-out pictures, the fast network's loss within 1.5x of Gatys'."""
    m = registry.checkpoint("fast-style")["metrics"]
    assert m["test_loss_ratio"] <= 1.5


def test_shipped_network_re_measured_on_a_held_out_picture():
    model = load_pretrained("fast-style")  # checks SHA-256 and size against the registry
    assert isinstance(model, TransformerNet) and not model.training
    check = registry.checkpoint("fast-style")["check"]
    cfg = FastStyleConfig.for_profile("full")
    assert cfg.network == OFFLINE_CHOICE
    loss = style_loss_for(cfg, torch.device("cpu"))
    pic = load_picture(check["picture"], check["size"])
    with torch.no_grad():
        out = model(pic)
        terms = dict(zip(("loss", "content", "style", "tv"), loss(out, pic), strict=True))
    assert out.shape == pic.shape and 0 <= out.min() and out.max() <= 1
    for key, value in terms.items():
        # the same weights on another CPU differ by rounding at most
        assert float(value) == pytest.approx(check[key], rel=2e-3), key


def test_the_shipped_selection_study_chose_the_offline_network():
    res = json.loads(resources.files("course_lib").joinpath("assets/style_selection.json")
                     .read_text())
    assert res["choice"] == OFFLINE_CHOICE
    scores = {k: v["score"] for k, v in res["summary"].items()}
    assert min(scores, key=scores.get) == OFFLINE_CHOICE
    assert {r["texture"] for r in res["rows"]} == set(res["settings"]["textures"])
    assert len(res["rows"]) == len(scores) * len(res["settings"]["textures"])
