"""A GAN on a 2-D mixture of Gaussians, in NumPy, with every gradient derived by hand (Chapter 6).

The two players are plain :func:`~course_lib.numpy_nn.models.mlp` networks:

    G: z (N, latent_dim) -> x (N, 2)                 the generator
    D: x (B, 2 * pack)   -> logit (B, 1)             the discriminator, D(x) = sigmoid(logit)

One round of the game (:func:`gan_step`) is the alternating update of
Goodfellow et al. 2014 (Algorithm 1) in the form the PyTorch DCGAN example
uses (``pytorch/examples``, ``dcgan/main.py``): one batch of noise, one
generator forward pass; the discriminator learns on it with the fakes held
constant, then the generator learns on *the same* fakes, seen by the
discriminator that has just been updated.

PacGAN (Lin et al. 2018) lets the discriminator judge ``pack`` samples at
once: ``m = pack`` samples of the same source, concatenated into one input of
size ``2m``. A generator that puts all its mass on a few modes produces packs
that look alike, which a single-sample discriminator cannot see and a packed
one can: the cheapest remedy for mode collapse in the chapter.

Nothing here runs on import; :data:`PRESETS` holds the settings measured in the
chapter (collapse and its remedies), and :func:`train_toy_gan` runs one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from course_lib.data import toy_2d, toy_2d_modes
from course_lib.evaluation import mode_metrics
from course_lib.numpy_nn.functional.activations import sigmoid_forward
from course_lib.numpy_nn.functional.losses import gan_discriminator_loss, gan_generator_loss
from course_lib.numpy_nn.layers import LeakyReLU, ReLU, Tanh
from course_lib.numpy_nn.models import mlp
from course_lib.numpy_nn.module import Module, Sequential
from course_lib.numpy_nn.optim import Adam

__all__ = [
    "LOSSES",
    "PRESETS",
    "GANStepResult",
    "Snapshot",
    "ToyGAN",
    "ToyGANConfig",
    "ToyGANHistory",
    "discriminator_step",
    "gan_step",
    "make_toy_gan",
    "pack_samples",
    "sample",
    "train_toy_gan",
]

LOSSES = ("non-saturating", "minimax")

ACTIVATIONS: dict[str, Callable[[], Module]] = {
    "relu": ReLU,
    # slope 0.2, as in DCGAN's discriminator (Radford et al. 2016)
    "leaky_relu": lambda: LeakyReLU(0.2),
    "tanh": Tanh,
}


@dataclass(frozen=True)
class ToyGANConfig:
    """Every setting of one toy-GAN run.

    Args:
        mixture: ``"ring"`` (8 modes) or ``"grid"`` (25 modes), see ``course_lib.data.toy_2d``.
        latent_dim: size of the noise z ~ N(0, I).
        g_hidden, d_hidden: hidden widths of the generator and the discriminator.
        activation: of the hidden layers, a key of :data:`ACTIVATIONS`.
        batch_size: B, the number of discriminator inputs per step; each side
            (real, fake) uses ``B * pack`` samples.
        steps: rounds of the game (each: ``d_steps`` D updates, one G update).
        lr_g, lr_d: Adam learning rates; unequal values give the two-time-scale
            update rule (TTUR, Heusel et al. 2017).
        betas: Adam's (beta1, beta2) for both players; beta1 = 0.5 as in DCGAN.
        lr_final: both learning rates decay linearly from their value to
            ``lr_final`` times it over the run (1.0: constant). Adam's steps keep
            a size of about lr even at equilibrium, and that jitter, not the
            game, is what blurs the generated modes at the end.
        loss: the generator's loss, ``"non-saturating"`` or ``"minimax"``.
        pack: PacGAN's degree m (Lin et al. 2018); 1 is the plain GAN.
        d_steps: discriminator updates per generator update (k in Goodfellow et al. 2014).
        seed: of the initial weights, the real batches and the noise.
        snapshot_steps: after which steps to keep a sample of G (0 = before training).
        snapshot_size: points per snapshot, drawn from one fixed noise batch so
            snapshots differ only through G.
    """

    mixture: str = "ring"
    latent_dim: int = 2
    g_hidden: tuple[int, ...] = (64, 64)
    d_hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    batch_size: int = 128
    steps: int = 2000
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    lr_final: float = 1.0
    loss: str = "non-saturating"
    pack: int = 1
    d_steps: int = 1
    seed: int = 0
    snapshot_steps: tuple[int, ...] = (0, 500, 1000, 2000)
    snapshot_size: int = 2500

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}"
            )
        for name in ("latent_dim", "batch_size", "pack", "d_steps", "snapshot_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 0 or any(not 0 <= s <= self.steps for s in self.snapshot_steps):
            raise ValueError(
                f"snapshot_steps must lie in [0, steps={self.steps}], got {self.snapshot_steps}"
            )

    def replace(self, **changes: Any) -> ToyGANConfig:
        """A copy with some fields changed; snapshots beyond a shorter ``steps`` are dropped."""
        new = dict(changes)
        steps = new.get("steps", self.steps)
        if "snapshot_steps" not in new:
            new["snapshot_steps"] = tuple(s for s in self.snapshot_steps if s <= steps)
            if steps not in new["snapshot_steps"]:
                new["snapshot_steps"] += (steps,)
        return dataclasses.replace(self, **new)


class ToyGAN(NamedTuple):
    """The two networks and their optimisers."""

    G: Sequential  # (N, latent_dim) -> (N, 2)
    D: Sequential  # (B, 2 * pack) -> (B, 1) logits
    opt_g: Adam
    opt_d: Adam


def make_toy_gan(config: ToyGANConfig, rng: np.random.Generator | None = None) -> ToyGAN:
    """Build G, D (float64, He initialisation) and their Adam optimisers from ``config``.

    ``rng`` draws the initial weights, G's first; by default
    ``np.random.default_rng(config.seed)``.
    """
    rng = np.random.default_rng(config.seed) if rng is None else rng
    act = ACTIVATIONS[config.activation]
    G = mlp((config.latent_dim, *config.g_hidden, 2), activation=act, rng=rng, dtype=np.float64)
    D = mlp((2 * config.pack, *config.d_hidden, 1), activation=act, rng=rng, dtype=np.float64)
    opt_g = Adam(G.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = Adam(D.parameters(), lr=config.lr_d, betas=config.betas)
    return ToyGAN(G, D, opt_g, opt_d)


def pack_samples(x: np.ndarray, pack: int) -> np.ndarray:
    """PacGAN's packing: (B * pack, 2) -> (B, 2 * pack), consecutive rows side by side.

    Row-major reshape, so pack j holds samples ``j*pack, ..., j*pack + pack - 1``;
    its backward is the reverse reshape of the gradient, (B, 2m) -> (B*m, 2).
    """
    n, d = x.shape
    if n % pack:
        raise ValueError(f"cannot pack {n} samples (shape {x.shape}) into groups of {pack}")
    return x.reshape(n // pack, d * pack)  # (B, 2m)


class GANStepResult(NamedTuple):
    """What one round of the game reports; D(.) = sigmoid(logit), means over the batch."""

    loss_d: float  # -mean log D(x) - mean log(1 - D(G(z)))
    loss_g: float  # the generator's loss (non-saturating or minimax)
    d_real: float  # mean D(x) on the real batch, before D's update
    d_fake: float  # mean D(G(z)) on the fakes, before D's update


class _DStep(NamedTuple):
    loss_d: float
    d_real: float
    d_fake: float
    fake: np.ndarray  # (B*m, 2), G's output whose cache G still holds


def discriminator_step(gan: ToyGAN, real: np.ndarray, z: np.ndarray, *, pack: int = 1) -> _DStep:
    """One update of D on a real batch and G(z), the fakes held constant.

    ``real`` (B*m, 2), ``z`` (B*m, latent_dim), m = ``pack``. G runs forward
    only: the D loss does not reach G's parameters (in torch: ``fake.detach()``).
    """
    G, D, _, opt_d = gan
    fake = G(z)  # (B*m, 2)
    real_packed, fake_packed = pack_samples(real, pack), pack_samples(fake, pack)  # (B, 2m) each
    b = len(real_packed)
    # One forward pass on both batches: D has no batch statistics, so this equals two
    # passes, and D keeps the cache of its last forward only.
    logits = D(np.concatenate([real_packed, fake_packed]))  # (2B, 1)
    real_logits, fake_logits = logits[:b], logits[b:]  # (B, 1) each
    loss_d, dreal, dfake = gan_discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    D.backward(np.concatenate([dreal, dfake]))  # input gradient dropped: fakes are constants
    opt_d.step()
    d_real, d_fake = (float(sigmoid_forward(s)[0].mean()) for s in (real_logits, fake_logits))
    return _DStep(float(loss_d), d_real, d_fake, fake)


def gan_step(
    gan: ToyGAN,
    real: np.ndarray,
    z: np.ndarray,
    *,
    loss: str = "non-saturating",
    pack: int = 1,
) -> GANStepResult:
    """One round of the game: a discriminator update, then a generator update.

    Args:
        gan: the networks and optimisers (:func:`make_toy_gan`).
        real: (B*m, 2) samples of the data, m = ``pack``.
        z: (B*m, latent_dim) noise; *the same* noise, and so the same fakes,
            serve both updates, as in the PyTorch DCGAN example.
        loss: the generator's loss, ``"non-saturating"`` or ``"minimax"``.
        pack: PacGAN's degree m.

    The chain rule of the generator's update, read right to left::

        dL/dtheta_G = dL/dlogit * dlogit/dx_fake * dx_fake/dtheta_G
                      (loss)      (D.backward)     (G.backward)
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    G, D, opt_g, _ = gan
    # 1. the discriminator: real -> 1, fake -> 0, G untouched
    d = discriminator_step(gan, real, z, pack=pack)

    # 2. the generator, on the same fakes; D has just been updated, so it runs forward again
    opt_g.zero_grad()
    fake_logits = D(pack_samples(d.fake, pack))  # (B, 1)
    loss_g, dlogits = gan_generator_loss(fake_logits, non_saturating=loss == "non-saturating")
    dpacked = D.backward(dlogits)  # dL/dx_fake, packed (B, 2m)
    dfake = dpacked.reshape(d.fake.shape)  # unpack: (B, 2m) -> (B*m, 2)
    G.backward(dfake)  # G's cache is that of the forward pass that made d.fake
    opt_g.step()
    # D.backward also added the *generator's* loss gradient into D's .grad: not D's
    # objective (of the opposite sign, for the minimax loss). Zero it, so nothing,
    # e.g. a later D step without zero_grad, can ever apply it (torch: optimizerD.zero_grad()).
    D.zero_grad()
    return GANStepResult(d.loss_d, float(loss_g), d.d_real, d.d_fake)


def sample(G: Sequential, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples float64 (n, 2) of the generator, z ~ N(0, I) drawn from ``rng``."""
    z = rng.standard_normal((n, G[0].in_features))  # (n, latent_dim)
    return G(z)


class Snapshot(NamedTuple):
    step: int  # number of rounds done
    samples: np.ndarray  # (snapshot_size, 2), G on the run's fixed evaluation noise
    metrics: dict[str, float]  # mode_metrics: modes, high_quality, kl


@dataclass
class ToyGANHistory:
    """Per-step curves (arrays of length ``steps``), the snapshots and the trained networks."""

    config: ToyGANConfig
    loss_d: np.ndarray
    loss_g: np.ndarray
    d_real: np.ndarray
    d_fake: np.ndarray
    snapshots: list[Snapshot] = field(default_factory=list)
    seconds: float = 0.0  # wall-clock training time, snapshots included
    gan: ToyGAN | None = None

    @property
    def final(self) -> dict[str, float]:
        """The metrics of the last snapshot."""
        return self.snapshots[-1].metrics


def train_toy_gan(config: ToyGANConfig, *, progress: bool = True) -> ToyGANHistory:
    """Train a toy GAN as set by ``config``; deterministic in ``config.seed``.

    Four independent streams come from ``SeedSequence(config.seed)``: the
    initial weights, the real batches (each a ``toy_2d`` call with a seed drawn
    from its stream), the training noise and the fixed evaluation noise, so
    changing e.g. the snapshot steps leaves training untouched.
    """
    c = config
    s_init, s_data, s_noise, s_eval = np.random.SeedSequence(c.seed).spawn(4)
    gan = make_toy_gan(c, np.random.default_rng(s_init))
    data_rng, noise_rng = np.random.default_rng(s_data), np.random.default_rng(s_noise)
    eval_z = np.random.default_rng(s_eval).standard_normal((c.snapshot_size, c.latent_dim))
    centers, std = toy_2d_modes(c.mixture)
    n = c.batch_size * c.pack  # samples per side and per D update
    curves = {k: np.zeros(c.steps) for k in GANStepResult._fields}
    history = ToyGANHistory(c, **curves, gan=gan)

    def snapshot(step: int) -> None:
        x = gan.G(eval_z)  # (snapshot_size, 2)
        history.snapshots.append(Snapshot(step, x, mode_metrics(x, centers, std)))

    def batch() -> tuple[np.ndarray, np.ndarray]:
        real = toy_2d(c.mixture, n, seed=int(data_rng.integers(2**63)))  # (B*m, 2)
        return real, noise_rng.standard_normal((n, c.latent_dim))  # (B*m, latent_dim)

    start = time.perf_counter()
    wanted = set(c.snapshot_steps)
    # One BLAS thread: on matrices of 256 x 64 a second thread only adds
    # synchronisation (measured: 3.5x faster with one than two on a busy 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        if 0 in wanted:
            snapshot(0)
        bar = tqdm(range(c.steps), disable=not progress, desc=f"toy GAN ({c.mixture})")
        for t in bar:
            decay = 1 - (1 - c.lr_final) * t / max(1, c.steps)  # 1 at the start -> lr_final
            gan.opt_g.lr, gan.opt_d.lr = c.lr_g * decay, c.lr_d * decay
            for _ in range(c.d_steps - 1):  # the extra D updates, each on fresh batches
                discriminator_step(gan, *batch(), pack=c.pack)
            r = gan_step(gan, *batch(), loss=c.loss, pack=c.pack)
            for k, v in r._asdict().items():
                curves[k][t] = v
            if t + 1 in wanted:
                snapshot(t + 1)
                bar.set_postfix(modes=history.snapshots[-1].metrics["modes"])
    history.seconds = time.perf_counter() - start
    return history


# Measured settings (see the chapter's experiments); the notebook imports these.
# "ring": the plain GAN, which drops modes (seeds 0, 1, 2: 6, 6, 7 of 8 captured, high-quality
# fraction 0.85, 0.77, 0.83); "ring-pacgan": the same with packs of two, which captures all 8
# (0.84, 0.84, 0.86), in about 30 s on one core of the course's 2-core machine.
_RING = ToyGANConfig(
    g_hidden=(128, 128), d_hidden=(128, 128), steps=6000, lr_final=0.01,
    snapshot_steps=(0, 1500, 3000, 4500, 6000),
)
PRESETS: dict[str, ToyGANConfig] = {
    "ring": _RING,
    "ring-minimax": _RING.replace(loss="minimax"),
    "ring-pacgan": _RING.replace(pack=2),
    "smoke": ToyGANConfig(steps=200, snapshot_steps=(0, 100, 200), snapshot_size=500),
}
