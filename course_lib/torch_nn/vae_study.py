"""Short VAE runs for Chapter 7's studies: the beta rate-distortion curve and posterior collapse.

:func:`train_vae` trains one VAE through the shared loop (validation split,
best model kept) and scores it with :func:`~.vae_training.vae_metrics`;
:func:`kl_per_dimension` says how many nats each latent dimension carries.
``benchmarks/bench_vae.py`` runs the grids of :data:`BETAS` and
:data:`COLLAPSE_SETTINGS` and the chapter's notebook 4 reads its results.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from course_lib.torch_nn.datasets import fashion_mnist, train_val_split
from course_lib.torch_nn.loop import fit, set_seed
from course_lib.torch_nn.vae import gaussian_kl_per_dim
from course_lib.torch_nn.vae_training import VAEConfig, binarized, vae_metrics
from course_lib.torch_nn.zoo import build_model

__all__ = [
    "BETAS",
    "COLLAPSE_SETTINGS",
    "STUDY_EPOCHS",
    "STUDY_SETTINGS",
    "kl_per_dimension",
    "train_vae",
]

BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
STUDY_EPOCHS = 10  # each run: about a minute for the MLP VAE on one CPU core
# the studies' training settings, fixed here so that they do not move with the default preset
STUDY_SETTINGS: dict[str, Any] = {"epochs": STUDY_EPOCHS, "lr": 1e-3, "warmup_steps": 1000}
# (label, overrides): a wide latent space and a strong KL weight with no help, then two remedies
COLLAPSE_SETTINGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("beta 4, no warm-up", {"beta": 4.0, "warmup_steps": 0}),
    ("beta 4, KL warm-up", {"beta": 4.0, "warmup_steps": 2000}),
    ("beta 4, free bits 0.5", {"beta": 4.0, "warmup_steps": 0, "free_bits": 0.5}),
    ("beta 1, no warm-up", {"beta": 1.0, "warmup_steps": 0}),
)


@torch.no_grad()
def kl_per_dimension(vae: nn.Module, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Mean KL(q(z_j | x) || N(0, 1)) of each latent dimension over pictures x: (L,) nats.

    A dimension with (almost) zero KL for every picture is *collapsed*: its
    posterior is the prior, whatever the picture, and the decoder ignores it.
    """
    device = next(vae.parameters()).device
    total = 0.0
    for xb in x.split(batch_size):
        mu, logvar = vae.encode(xb.to(device))
        total = total + gaussian_kl_per_dim(mu, logvar).sum(0)
    return (total / len(x)).cpu()


def train_vae(
    *,
    model: str = "mlp",
    profile: str = "default",
    eval_n: int = 2000,
    k: int = 100,
    fake_data: bool = False,
    device: torch.device | None = None,
    progress: bool = False,
    **overrides: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one VAE of the profile's preset with ``overrides`` (VAEConfig fields).

    ``model_kwargs`` in ``overrides`` update the preset's sizes. Returns the
    model (best validation epoch) and its metrics on the first ``eval_n``
    test pictures, binarised with ``binarize(test, seed=0)``: ``neg_elbo``,
    ``nll`` (IWAE with ``k``), ``rec``, ``kl``, ``active_units``, plus
    ``kl_per_dim`` (a list) and the training ``seconds``.
    """
    device = device or torch.device("cpu")
    cfg = VAEConfig.for_profile(model, profile)
    sizes = {**cfg.model_kwargs, **overrides.pop("model_kwargs", {})}
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ValueError(f"VAEConfig has no setting {key!r}")
        setattr(cfg, key, value)
    cfg.model_kwargs, cfg.fake_data, cfg.progress = sizes, fake_data or cfg.fake_data, progress
    set_seed(cfg.seed)
    vae = build_model(cfg.model, **cfg.model_kwargs)
    full = fashion_mnist("train", limit=cfg.train_limit, fake=cfg.fake_data, seed=cfg.seed)
    train, val = train_val_split(*full, val_size=cfg.val_size, seed=cfg.seed)
    tic = time.perf_counter()
    history = fit(vae, train, config=cfg, eval_data=val, device=device)
    seconds = time.perf_counter() - tic
    test, _ = fashion_mnist("test", limit=eval_n, fake=cfg.fake_data, seed=0)
    x = binarized(test, seed=0)
    metrics: dict[str, Any] = vae_metrics(vae, x, k=k)
    metrics.update(kl_per_dim=kl_per_dimension(vae, x).tolist(), seconds=seconds,
                   val_neg_elbo=history.summary.get("val_neg_elbo"),
                   epochs=len(history.epoch))
    return vae.eval(), metrics
