"""Chapter 8 in torch: the Gram matrix and Gatys' per-layer loss, the feature networks (offline,
and VGG-19 from a weight file on disk, never downloaded), stylize, colour control, TransformerNet
and the fast-style command."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.numpy_nn.functional import gram_matrix_forward
from course_lib.torch_nn import style_networks, train
from course_lib.torch_nn.fast_style import TransformerNet
from course_lib.torch_nn.fast_style_training import FastStyleConfig, content_crops
from course_lib.torch_nn.style import (
    gram_matrix,
    keep_colours,
    layer_style_loss,
    luminance,
    match_luminance,
    style_targets,
    stylize,
)
from course_lib.torch_nn.style_networks import NETWORKS, OFFLINE_CHOICE, feature_network

pytestmark = pytest.mark.ch08


def picture(side: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.fixture()
def no_vgg(tmp_path, monkeypatch):
    """An empty torch hub folder, and any download attempt is an error."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("COURSE_STYLE_NETWORK", raising=False)

    def refuse(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    return tmp_path


# --------------------------------------------------------------------------- losses


def test_gram_matrix_equals_the_numpy_forward():
    f = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    assert np.allclose(gram_matrix(f).numpy(), gram_matrix_forward(f.numpy())[0], rtol=1e-13)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gram_matrix(f[0])


def test_layer_loss_is_gatys_normalisation_with_the_factor_c2_over_4():
    f = torch.randn(1, 6, 5, 4, dtype=torch.float64)
    a = torch.randn(6, 6, dtype=torch.float64)
    c, m = 6, 20
    flat = f.reshape(c, m)
    raw, raw_a = flat @ flat.T, a * c * m  # unnormalised Gram matrices
    gatys = ((raw - raw_a) ** 2).sum() / (4 * c**2 * m**2)  # Gatys et al. 2016, eq. 4
    assert float(layer_style_loss(f, a)) == pytest.approx(float(gatys), rel=1e-12)


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("name", [n for n in NETWORKS if n != "vgg19"])
def test_offline_networks_give_every_layer_and_are_frozen(name):
    net = feature_network(name)
    assert net.name == name
    feats = net(picture())
    assert set(feats) == set(net.layers) and set(net.style_layers) <= set(feats)
    assert all(f.ndim == 4 and len(f) == 1 and torch.isfinite(f).all() for f in feats.values())
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    with pytest.raises(ValueError, match="has no layers"):
        net(picture(), ["nope"])


def test_random_networks_are_the_same_for_the_same_seed():
    a, b = feature_network("random-vgg", seed=1), feature_network("random-vgg", seed=1)
    x = picture()
    assert torch.equal(a(x)["relu3_1"], b(x)["relu3_1"])
    assert not torch.equal(a(x)["relu3_1"], feature_network("random-vgg", seed=2)(x)["relu3_1"])


def test_softmax_variant_is_a_distribution_times_its_size():
    f = feature_network("random-vgg-softmax")(picture())["relu2_1"]
    assert float(f.flatten(1).mean()) == pytest.approx(1.0, rel=1e-5) and (f > 0).all()


def test_auto_is_offline_without_weights_and_never_downloads(no_vgg):
    assert feature_network("auto").name == OFFLINE_CHOICE
    with pytest.raises(FileNotFoundError, match="download=True"):
        feature_network("vgg19")
    with pytest.raises(ValueError, match="unknown feature network"):
        feature_network("vgg16")


def test_auto_is_vgg19_when_torchvisions_file_is_on_disk(no_vgg):
    body, _ = style_networks._vgg19_body("max")
    state = {f"features.{k}": torch.randn_like(v) for k, v in body.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored: only the features are used
    path = style_networks.vgg19_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    net = feature_network("auto")
    assert net.name == "vgg19" and net.content_layer == "relu4_2"
    assert torch.equal(net.body[28].weight, state["features.28.weight"])  # conv5_1, by index
    assert isinstance(net.body[4], torch.nn.AvgPool2d)  # Gatys: average pooling
    assert net(picture())["relu5_1"].shape == (1, 512, 2, 2)


# --------------------------------------------------------------------------- stylize


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_lowers_the_objective_and_keeps_pixels_in_range(optimizer):
    net = feature_network("random-vgg")
    img, hist = stylize(picture(), picture(seed=1), network=net, steps=25, optimizer=optimizer,
                        progress=False)
    assert img.shape == (1, 3, 32, 32) and 0 <= img.min() and img.max() <= 1
    assert hist.network == "random-vgg" and 25 <= len(hist.loss) <= 30
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert hist.loss[0] == pytest.approx(hist.content[0] + hist.style[0] + hist.tv[0], rel=1e-5)


def test_stylize_refuses_bad_input():
    net = feature_network("random-vgg")
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        stylize(picture()[0], picture(), network=net)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stylize(picture() * 255, picture(), network=net)
    with pytest.raises(ValueError, match="optimizer"):
        stylize(picture(), picture(), network=net, optimizer="sgd")
    with pytest.raises(ValueError, match="mix"):
        stylize(picture(), [picture(), picture(seed=1)], network=net, mix=[0.5, 0.6])


def test_style_mix_blends_gram_matrices_linearly():
    net = feature_network("random-vgg")
    a, b = picture(seed=1), picture(seed=2)
    layers = list(net.style_layers)
    ta, tb = style_targets(net, a, layers), style_targets(net, b, layers)
    mixed = style_targets(net, [a, b], layers, mix=[0.25, 0.75])
    for k in layers:
        assert torch.allclose(mixed[k], 0.25 * ta[k] + 0.75 * tb[k], rtol=1e-5, atol=1e-8)


def test_keep_colours_keeps_the_content_chroma_and_the_styled_luminance():
    content = 0.2 + 0.6 * picture(16, 0)
    styled = 0.2 + 0.6 * picture(16, 1)
    out = keep_colours(content, styled).double()
    yiq_i = torch.tensor([0.596, -0.274, -0.322], dtype=torch.float64).view(1, 3, 1, 1)
    # exact where no channel left [0, 1] (elsewhere the clip changes the colour, as it must)
    inside = ((content + luminance(styled) - luminance(content)).clamp(0, 1)
              == content + luminance(styled) - luminance(content)).all(1)  # (1, H, W)
    assert inside.float().mean() > 0.5
    assert torch.allclose(luminance(out)[:, 0][inside], luminance(styled)[:, 0][inside].double(),
                          atol=1e-6)
    i_out, i_content = (out * yiq_i).sum(1), (content.double() * yiq_i).sum(1)
    assert torch.allclose(i_out[inside], i_content[inside], atol=1e-6)
    grey = match_luminance(styled, content)
    assert grey.shape == (1, 3, 16, 16) and torch.equal(grey[:, 0], grey[:, 2])
    mean_grey, mean_content = float(luminance(grey).mean()), float(luminance(content).mean())
    assert mean_grey == pytest.approx(mean_content, abs=1e-3)


# --------------------------------------------------------------------------- the fast network


def test_transformer_net_keeps_shape_and_range_and_refuses_bad_sizes():
    net = TransformerNet(width=4, blocks=1, edge_kernel=3)
    out = net(picture(20))
    assert out.shape == (1, 3, 20, 20) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="multiples of 4"):
        net(picture(18))
    with pytest.raises(ValueError, match="odd edge_kernel"):
        TransformerNet(width=4, edge_kernel=4)
    ups = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert not ups  # resize-then-convolve, no transposed convolutions (Odena et al. 2016)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules())


def test_content_crops_are_deterministic_uint8():
    a = content_crops(5, 32, seed=1)
    assert a.dtype == torch.uint8 and a.shape == (5, 3, 32, 32)
    assert torch.equal(a, content_crops(5, 32, seed=1))
    assert not torch.equal(a, content_crops(5, 32, seed=2))


def test_fast_style_command_trains_saves_and_evaluates(tmp_path, capsys):
    args = ["fast-style", "--profile", "smoke", "--fake-data", "--max-steps", "3",
            "--gatys-steps", "3", "--out", str(tmp_path), "--no-progress"]
    assert train.main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    values = dict(kv.split("=") for kv in line.split())
    for key in ("test_fast_loss", "test_gatys_loss", "test_loss_ratio", "test_fast_ms_256"):
        assert np.isfinite(float(values[key]))
    assert values["steps"] == "3" and (tmp_path / "fast-style.pt").exists()
    assert train.main(["fast-style", "--eval-only", "--checkpoint", str(tmp_path / "fast-style.pt"),
                       "--fake-data", "--gatys-steps", "2"]) == 0
    assert "test_loss_ratio=" in capsys.readouterr().out


def test_profiles_give_sensible_presets():
    smoke, full = FastStyleConfig.for_profile("smoke"), FastStyleConfig.for_profile("full")
    assert smoke.crops < full.crops and smoke.model_kwargs["width"] < full.model_kwargs["width"]
    assert full.network == OFFLINE_CHOICE and full.val_size and full.patience


def _fast_run(tmp_path, **kw):
    from course_lib.torch_nn.loop import fit, set_seed

    cfg = FastStyleConfig.for_profile("smoke")
    cfg.fake_data, cfg.progress, cfg.epochs = True, False, 2
    for k, v in kw.items():
        setattr(cfg, k, v)
    set_seed(0)
    model = TransformerNet(**cfg.model_kwargs)
    crops = content_crops(24, 32, seed=0, fake=True)
    labels = torch.zeros(24, dtype=torch.int64)
    history = fit(model, (crops[:16], labels[:16]), config=cfg, eval_data=(crops[16:], labels[16:]),
                  device=torch.device("cpu"))
    return model, history


def test_fast_style_resumed_run_ends_where_the_uninterrupted_one_does(tmp_path):
    full, h_full = _fast_run(tmp_path)
    _fast_run(tmp_path, max_steps=11, checkpoint_dir=str(tmp_path), checkpoint_every=4)
    resumed, h_res = _fast_run(tmp_path, resume=str(tmp_path / "last.pt"))
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert h_res.values == h_full.values and h_res.evals == h_full.evals
    assert h_res.summary == h_full.summary and h_full.summary["best_epoch"] in (1, 2)
    assert len(h_full.evals["val_loss"]) == 2
