"""Training the VAEs of Chapter 7: presets, the step, the figures of the final line, the task.

    python -m course_lib.torch_nn.train vae                       # COURSE_PROFILE sets the size
    python -m course_lib.torch_nn.train vae --model mlp --beta 4 --warmup-steps 0
    python -m course_lib.torch_nn.train vae --eval-only           # re-measure the shipped VAE

The loss of a step is the negative ELBO per image with two optional changes
that fight posterior collapse: a KL weight ``beta`` (Higgins et al. 2017) that
rises linearly from 0 over ``warmup_steps`` (KL annealing, Bowman et al.
2016), and *free bits* (Kingma et al. 2016, IAF, sec. C.8): the batch-mean KL
of each latent dimension counts only above ``free_bits`` nats, so the
optimiser gains nothing by pushing a dimension's KL all the way to zero.
Training pictures are binarised afresh in every batch (dynamic binarisation);
the validation split, carved off the training set, is binarised once and
monitors the (plain, beta = 1) negative ELBO, keeps the best model and stops
early; the test set, binarised once with ``binarize(test, seed=0)``, is used
once for the final line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import profile as course_profile
from course_lib.data import binarize
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import load_model, load_pretrained, save_checkpoint
from course_lib.torch_nn.datasets import fashion_mnist, train_val_split
from course_lib.torch_nn.loop import (
    EarlyStoppingStep,
    KeepBest,
    RunConfig,
    StepContext,
    fit,
    set_seed,
)
from course_lib.torch_nn.tasks import (
    Task,
    apply_common_options,
    non_negative_float,
    non_negative_int,
    positive_int,
    register_task,
    thin,
    write_param_digest,
)
from course_lib.torch_nn.vae import (
    active_from_means,
    elbo,
    gaussian_kl_per_dim,
    iwae_bound,
    log_bernoulli,
)
from course_lib.torch_nn.zoo import build_model

__all__ = ["VAEConfig", "VAEStep", "binarized", "dynamic_binarize", "vae_metrics"]

MODELS = {"conv": "conv_vae", "mlp": "mlp_vae"}
FINAL_NAMES = {"conv_vae": "vae-fashion-mnist.pt", "mlp_vae": "mlp-vae-fashion-mnist.pt"}


def dynamic_binarize(x: torch.Tensor) -> torch.Tensor:
    """A batch of grey levels in [0, 1] -> fresh Bernoulli pixels in {0, 1}, same shape.

    Drawn from torch's generator of the batch's device, so a resumed run draws
    the same pixels (the loop checkpoints the RNG states).
    """
    return torch.bernoulli(x)


def binarized(images_uint8: torch.Tensor | np.ndarray, *, seed: int = 0) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), as :func:`~course_lib.data.binarize`."""
    a = images_uint8.numpy() if isinstance(images_uint8, torch.Tensor) else images_uint8
    return torch.from_numpy(binarize(np.asarray(a), seed=seed))[:, None]


@dataclass
class VAEConfig(RunConfig):
    """Everything that decides a VAE's training run; stored in every checkpoint.

    ``model`` is ``"conv_vae"`` or ``"mlp_vae"``, ``model_kwargs`` its sizes.
    """

    model: str = "conv_vae"
    lr: float = 1e-3  # Adam, cosine-annealed to lr / 10 over the run
    beta: float = 1.0  # weight of the KL term (1: the ELBO itself)
    warmup_steps: int = 0  # steps over which the KL weight rises linearly from 0 to beta
    free_bits: float = 0.0  # nats per latent dimension below which the KL is not penalised
    val_size: int | None = 5000
    eval_limit: int = 5000  # validation pictures scored after each epoch
    patience: int | None = None  # epochs without a better validation -ELBO before stopping

    RESUME_KEYS = (*RunConfig.RESUME_KEYS, "val_size")

    @classmethod
    def for_profile(cls, model: str = "conv", profile: str | None = None) -> VAEConfig:
        """The preset of a profile (default: ``$COURSE_PROFILE``) for ``"conv"`` or ``"mlp"``.

        smoke: a few steps of a tiny network (the tests). default: what a reader
        trains in about five minutes on two CPU cores. full: the shipped
        checkpoint's run.
        """
        profile = profile or course_profile.get_profile()
        if profile not in course_profile.PROFILES:
            raise ValueError(f"profile must be one of {course_profile.PROFILES}, got {profile!r}")
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
        size = {"conv": {"width": 32}, "mlp": {"hidden": 512}}[model]
        tiny = {"conv": {"width": 4}, "mlp": {"hidden": 16}}[model]
        presets = {
            "smoke": dict(model_kwargs={"latent_dim": 4, **tiny}, epochs=1, batch_size=32,
                          train_limit=1024, test_limit=256, val_size=256, eval_limit=256),
            # measured: 5 epochs at lr 2e-3 with a 500-step warm-up reach a validation -ELBO
            # of 241.2, 4 epochs at 1e-3 with 1,000 steps 245.3 (conv VAE, same time budget)
            "default": dict(model_kwargs={"latent_dim": 16, **size}, epochs=5, batch_size=128,
                            lr=2e-3, warmup_steps=500),
            "full": dict(model_kwargs={"latent_dim": 16, **size}, epochs=40, batch_size=128,
                         warmup_steps=2000, patience=5),
        }
        return cls(model=MODELS[model], **presets[profile])

    def batch_options(self) -> dict[str, Any]:
        return {"transform": dynamic_binarize}

    def build_step(self, model: nn.Module, steps_per_epoch: int) -> VAEStep:
        return VAEStep(model, self, total_steps=self.epochs * steps_per_epoch)


def kl_weight(step: int, beta: float, warmup_steps: int) -> float:
    """``beta * min(1, step / warmup_steps)``: KL annealing (Bowman et al. 2016); beta without."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


class VAEStep(EarlyStoppingStep):
    """One step on a batch of binarised pictures: minimise ``rec + w_t * KL`` (eq-ch07-beta-loss).

    ``rec = -E_q log p(x | z)`` with one reparameterised sample, the KL in
    closed form; both are per image, averaged over the batch. With free bits
    the KL term is ``sum_j max(free_bits, mean_batch KL_j)``. The values
    returned (the loss first) are the step's, in nats per image.
    """

    def __init__(self, model: nn.Module, cfg: VAEConfig, *, total_steps: int) -> None:
        self.model, self.cfg = model, cfg
        if cfg.beta < 0 or cfg.free_bits < 0 or cfg.warmup_steps < 0:
            raise ValueError("beta, free_bits and warmup_steps must be >= 0, got "
                             f"{cfg.beta}, {cfg.free_bits}, {cfg.warmup_steps}")
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.optimizers = {"adam": opt}
        self.schedulers = {"cosine": torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, total_steps), eta_min=cfg.lr / 10)}
        self.steps = 0
        self.keep = KeepBest("neg_elbo")  # the best model by validation -ELBO
        self._val: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        self.steps += 1
        weight = kl_weight(self.steps, self.cfg.beta, self.cfg.warmup_steps)
        with ctx.autocast():
            logits, mu, logvar = self.net(x)  # (B, 1, 28, 28), (B, L), (B, L): eq-ch07-reparam
        # the bound in float32 even under autocast: sums of 784 log-probabilities
        rec = -log_bernoulli(logits.float(), x.float()).mean()
        kl_dims = gaussian_kl_per_dim(mu.float(), logvar.float()).mean(0)  # (L,) batch means
        kl = kl_dims.sum()
        penalty = kl_dims.clamp(min=self.cfg.free_bits).sum() if self.cfg.free_bits else kl
        loss = rec + weight * penalty
        ctx.minimize(loss, self.optimizers["adam"])
        return {"neg_elbo": (rec + kl).detach(), "rec": rec.detach(), "kl": kl.detach(),
                "kl_weight": torch.tensor(weight)}

    @torch.no_grad()
    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        """Mean -ELBO (beta = 1, one sample) on the first ``eval_limit`` validation pictures."""
        images, _ = eval_data
        if self._val is None:  # binarised once, like the test set, with another seed
            self._val = binarized(images[: self.cfg.eval_limit], seed=1).to(device)
        self.model.eval()
        with torch.random.fork_rng(devices=[]):  # the training noise stays as it was
            torch.manual_seed(0)
            neg = -torch.cat([elbo(self.model, b) for b in self._val.split(500)]).mean().item()
        self.model.train()
        self.keep.update(neg, self.model)
        return {"val_neg_elbo": neg}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state:
            self.steps = state["steps"]

    def finish(self) -> dict[str, Any]:
        """Put the best model (by validation -ELBO) back."""
        return self.keep.restore(self.model)

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        return (f"epoch {epoch}: train -ELBO {train_loss:.2f}, validation -ELBO "
                f"{res['val_neg_elbo']:.2f} (best {self.keep.value:.2f} at epoch "
                f"{self.keep.epoch})")


@torch.no_grad()
def vae_metrics(vae: nn.Module, x: torch.Tensor, *, k: int = 100, seed: int = 0,
                batch_size: int = 500) -> dict[str, float]:
    """The final line's figures on binarised pictures x (N, 1, 28, 28), nats per image.

    ``neg_elbo`` (one sample per picture), its two parts ``rec`` (the
    distortion, ``-E_q log p(x | z)``) and ``kl`` (the rate), ``nll`` (``-``
    the IWAE bound with ``k`` samples) and ``active_units`` (of the latent
    dimensions). Deterministic in ``seed``; the global RNG is left as it was.
    """
    device = next(vae.parameters()).device
    was_training = vae.training
    vae.eval()
    rec, kl, nll, mus = [], [], [], []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for xb in x.split(batch_size):
            xb = xb.to(device)
            mu, logvar = vae.encode(xb)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            rec.append(-log_bernoulli(vae.decode(z), xb))
            kl.append(gaussian_kl_per_dim(mu, logvar).sum(1))
            nll.append(-iwae_bound(vae, xb, k=k))
            mus.append(mu)
    vae.train(was_training)
    rec_t, kl_t = torch.cat(rec), torch.cat(kl)
    units = int(active_from_means(torch.cat(mus)).sum())
    return {"neg_elbo": float((rec_t + kl_t).mean()), "nll": float(torch.cat(nll).mean()),
            "rec": float(rec_t.mean()), "kl": float(kl_t.mean()), "active_units": units}


# ---------------------------------------------------------------------------
# The vae task of the command line
# ---------------------------------------------------------------------------


def _vae_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=sorted(MODELS), default="conv",
                   help="convolutional or fully connected encoder and decoder")
    p.add_argument("--latent-dim", type=positive_int, help="size of z")
    p.add_argument("--width", type=positive_int, help="conv VAE: channels at 28 x 28")
    p.add_argument("--hidden", type=positive_int, help="MLP VAE: hidden units")
    p.add_argument("--beta", type=non_negative_float, help="weight of the KL term (1: the ELBO)")
    p.add_argument("--warmup-steps", type=non_negative_int,
                   help="steps of linear KL warm-up (0: none)")
    p.add_argument("--free-bits", type=non_negative_float,
                   help="nats per latent dimension not penalised")
    p.add_argument("--val-size", type=positive_int,
                   help="validation pictures carved off the training set")
    p.add_argument("--patience", type=positive_int,
                   help="epochs without a better validation -ELBO to stop")
    p.add_argument("--k", type=positive_int, default=100,
                   help="importance samples of the final NLL")
    p.add_argument("--eval-n", type=positive_int, default=10_000,
                   help="test pictures for the final line")


def vae_config(args: argparse.Namespace) -> VAEConfig:
    """The preset of the profile, overridden by the options given."""
    cfg = apply_common_options(
        VAEConfig.for_profile(args.model, args.profile), args, lr=args.lr, beta=args.beta,
        warmup_steps=args.warmup_steps, free_bits=args.free_bits, val_size=args.val_size,
        patience=args.patience,
    )
    kw = dict(cfg.model_kwargs)
    for key, value in (("latent_dim", args.latent_dim), ("width", args.width),
                       ("hidden", args.hidden)):
        if value is not None:
            if key not in kw and key != "latent_dim":
                raise ValueError(f"--{key} does not apply to the {args.model} VAE")
            kw[key] = value
    cfg.model_kwargs = kw
    return cfg


def _test_metrics(vae: nn.Module, args: argparse.Namespace, limit: int | None) -> dict[str, Any]:
    n = min(args.eval_n, limit or args.eval_n)
    test, _ = fashion_mnist("test", limit=n, fake=args.fake_data, seed=0)
    m = vae_metrics(vae, binarized(test, seed=0), k=args.k)  # eq: binarize(test, seed=0)
    return {f"test_{key}": v for key, v in m.items()}


def run_vae(args: argparse.Namespace, device: torch.device) -> dict[str, Any] | None:
    if args.eval_only:
        if args.checkpoint is not None:
            vae, _ = load_model(args.checkpoint, device=device)
        else:
            vae = load_pretrained("vae", device=device)
        return _test_metrics(vae, args, None)
    cfg = vae_config(args)
    rank, world = dev.rank_and_world()
    set_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    full = fashion_mnist("train", limit=cfg.train_limit, fake=cfg.fake_data, seed=cfg.seed)
    train, val = train_val_split(*full, val_size=cfg.val_size, seed=cfg.seed)
    if rank == 0:
        n = sum(p.numel() for p in model.parameters())
        print(f"vae ({cfg.model}): {n:,} parameters on {dev.describe(device)}, {world} "
              f"process(es), {len(train[0])} training and {len(val[0])} validation pictures, "
              f"profile {args.profile or course_profile.get_profile()}", file=sys.stderr)
    history = fit(model, train, config=cfg, eval_data=val, device=device)
    write_param_digest(args, model)
    if rank != 0:
        return None
    model.eval()
    metrics: dict[str, Any] = _test_metrics(model, args, cfg.test_limit)
    metrics.update(
        val_neg_elbo=history.summary.get("val_neg_elbo", float("nan")),
        best_epoch=history.summary.get("best_epoch", 0),
        steps=history.step[-1] if history.step else 0, seconds=history.total_seconds,
    )
    if args.out is not None:
        every = max(1, len(history.loss) // 1000)  # curves thinned, small enough to ship
        extra = {"train_config": cfg.to_dict(), "curve_every": every,
                 "curves": {k: thin(v, every) for k, v in history.values.items()},
                 "evals": history.evals, "epoch_seconds": history.seconds}
        config = {"model": cfg.model, "model_kwargs": cfg.model_kwargs}
        save_checkpoint(args.out / FINAL_NAMES[cfg.model], model=model, step=metrics["steps"],
                        epoch=history.epoch[-1] if history.epoch else 0, config=config,
                        metrics=metrics, extra=extra)
    return metrics


register_task(Task("vae", "the variational autoencoders of Chapter 7 (binarised Fashion-MNIST)",
                   _vae_arguments, run_vae))
