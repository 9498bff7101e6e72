"""Two steps of fit on CUDA with mixed precision and channels-last (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from course_lib.torch_nn import device as dev
from course_lib.torch_nn.cnn import FashionCNN
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.train import TrainConfig, evaluate, fit, set_seed


def test_amp_and_channels_last_are_off_on_cpu():
    cpu = torch.device("cpu")
    assert dev.amp_dtype(cpu) is None and not dev.needs_grad_scaler(cpu)
    with dev.autocast_context(cpu):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    assert not dev.is_distributed() and dev.rank_and_world() == (0, 1)


@pytest.mark.gpu
def test_fit_two_steps_on_cuda_with_amp_and_channels_last():
    device = torch.device("cuda")
    set_seed(0)
    model = FashionCNN(width=8, hidden=16)
    cfg = TrainConfig(model_kwargs={"width": 8, "hidden": 16}, epochs=1, max_steps=2,
                      batch_size=32, fake_data=True, amp=True, channels_last=True, progress=False)
    train = fashion_mnist("train", limit=128, fake=True)
    seen = {}

    def spy(step, m, loss):
        seen["memory_format"] = m.first_conv.weight.is_contiguous(memory_format=torch.channels_last)

    history = fit(model, train, config=cfg, device=device, callback=spy)
    assert len(history.loss) == 2 and all(torch.isfinite(torch.tensor(history.loss)))
    assert next(model.parameters()).device.type == "cuda"
    assert next(model.parameters()).dtype == torch.float32  # autocast keeps float32 master weights
    assert seen["memory_format"]
    with dev.autocast_context(device):
        assert torch.ones(8, 8, device=device).matmul(torch.ones(8, 8, device=device)).dtype in (
            torch.bfloat16, torch.float16)
    res = evaluate(model, *fashion_mnist("test", limit=64, fake=True), device=device)
    assert 0.0 <= res["accuracy"] <= 1.0


@pytest.mark.gpu
def test_style_transfer_on_cuda_with_amp():
    """Chapter 8 on CUDA: stylize, and two fast-style steps under autocast (loss in float32)."""
    from course_lib.torch_nn.fast_style import TransformerNet
    from course_lib.torch_nn.fast_style_training import FastStyleConfig
    from course_lib.torch_nn.style import stylize
    from course_lib.torch_nn.style_networks import feature_network

    device = torch.device("cuda")
    net = feature_network("random-multiscale", device=device)
    g = torch.Generator().manual_seed(0)
    content, style = (torch.rand(1, 3, 64, 64, generator=g).to(device) for _ in range(2))
    img, hist = stylize(content, style, network=net, steps=10, progress=False)
    assert img.device.type == "cuda" and hist.loss[-1] < hist.loss[0]
    cfg = FastStyleConfig.for_profile("smoke")
    cfg.fake_data, cfg.max_steps, cfg.progress, cfg.amp = True, 2, False, True
    model = TransformerNet(**cfg.model_kwargs)
    crops = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    history = fit(model, (crops, torch.zeros(16, dtype=torch.int64)), config=cfg,
                  eval_data=(crops[:4], torch.zeros(4, dtype=torch.int64)), device=device)
    assert len(history.loss) == 2 and all(torch.isfinite(torch.tensor(history.loss)))


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["denoise", "sr2x", "pix2pix"])
def test_restoration_steps_on_cuda_with_amp(kind):
    """Chapter 9 on CUDA: two steps of each task under autocast, then inpainting with a VAE."""
    from course_lib.torch_nn.restore import inpaint
    from course_lib.torch_nn.restore_training import RestoreConfig
    from course_lib.torch_nn.vae import ConvVAE
    from course_lib.torch_nn.zoo import build_model

    device = torch.device("cuda")
    cfg = RestoreConfig.for_profile(kind, "smoke")
    cfg.fake_data, cfg.max_steps, cfg.progress, cfg.amp = True, 2, False, True
    model = build_model(cfg.model, **cfg.model_kwargs)
    images, labels = fashion_mnist("train", limit=96, fake=True)
    history = fit(model, (images[:64], labels[:64]), config=cfg,
                  eval_data=(images[64:], labels[64:]), device=device)
    assert len(history.loss) == 2 and all(torch.isfinite(torch.tensor(history.loss)))
    vae = ConvVAE(latent_dim=4, width=4).to(device)
    x = torch.rand(2, 1, 28, 28, device=device)
    mask = torch.ones(28, 28, device=device)
    mask[8:20, 8:20] = 0
    out = inpaint(vae, x, mask, steps=3)
    assert out.device.type == "cuda" and torch.equal(out[:, :, :8], x[:, :, :8])
