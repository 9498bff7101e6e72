"""A variational autoencoder in NumPy, with every gradient derived by hand (Chapter 7).

Two plain :func:`~course_lib.numpy_nn.models.mlp` networks (Kingma & Welling
2014, appendix C.2, with one or two hidden layers)::

    encoder: x (N, 784) -> h (N, 2D);  mu = h[:, :D], logvar = h[:, D:]   q(z | x)
    decoder: z (N, D)   -> logits (N, 784)                                p(x | z), Bernoulli

trained by minimising the negative evidence lower bound per image, in nats
(Kingma & Welling 2014, eq. 10; eq-ch07-elbo)::

    -ELBO(x) = E_q(z|x)[-log p(x | z)] + beta * KL(q(z | x) || N(0, I))

the expectation estimated with one sample ``z = mu + exp(logvar / 2) eps``
(the reparameterisation, section 2.4) and the KL in closed form (appendix B).
``beta = 1`` is the VAE; other values give the beta-VAE (Higgins et al. 2017),
whose loss is no longer a bound on ``-log p(x)``.

The pictures are binarised (each pixel drawn as a Bernoulli with probability
``grey / 255``, :func:`course_lib.data.binarize`), afresh every epoch for
training (*dynamic* binarisation) and once, with seed 0, for validation and
testing, so that every model is scored on the same pixels.

Nothing here runs on import; :data:`PRESETS` holds the measured settings and
:func:`train_numpy_vae` runs one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from course_lib.data import binarize, load_fashion_mnist
from course_lib.numpy_nn.functional.losses import gaussian_kl
from course_lib.numpy_nn.functional.vae import (
    bernoulli_nll,
    reparameterize_backward,
    reparameterize_forward,
)
from course_lib.numpy_nn.layers import Linear, ReLU
from course_lib.numpy_nn.models import mlp
from course_lib.numpy_nn.module import Module, Sequential
from course_lib.numpy_nn.optim import Adam

__all__ = [
    "PRESETS",
    "NumpyVAE",
    "NumpyVAEConfig",
    "NumpyVAEHistory",
    "VAEData",
    "VAEStepResult",
    "evaluate_test_set",
    "fake_images",
    "load_vae_data",
    "make_numpy_vae",
    "neg_elbo",
    "train_numpy_vae",
    "vae_step",
]

PIXELS = 28 * 28


class NumpyVAE(Module):
    """An encoder and a decoder MLP; ``parameters()`` lists the encoder's, then the decoder's.

    ``encoder`` (N, P) -> (N, 2D), the first D outputs the means, the last D the
    log-variances of q(z | x); ``decoder`` (N, D) -> (N, P) Bernoulli logits.
    The backward pass is :func:`vae_step`: the loss needs both networks and the
    noise, so there is no ``forward``/``backward`` pair on the module itself.
    """

    def __init__(self, encoder: Sequential, decoder: Sequential) -> None:
        super().__init__()
        first, last = encoder[0], encoder[-1]
        d_first, d_last = decoder[0], decoder[-1]
        if not all(isinstance(m, Linear) for m in (first, last, d_first, d_last)):
            raise ValueError("encoder and decoder must start and end with a Linear layer")
        if last.out_features % 2:
            raise ValueError(
                f"the encoder's output (N, {last.out_features}) must hold (mu, logvar), "
                "an even number of columns"
            )
        latent = last.out_features // 2
        if d_first.in_features != latent or d_last.out_features != first.in_features:
            raise ValueError(
                f"the decoder maps (N, {d_first.in_features}) -> (N, {d_last.out_features}); "
                f"expected (N, {latent}) -> (N, {first.in_features}) for an encoder "
                f"(N, {first.in_features}) -> (N, {last.out_features})"
            )
        self.encoder, self.decoder = encoder, decoder

    @property
    def latent_dim(self) -> int:
        return self.decoder[0].in_features

    @property
    def input_dim(self) -> int:
        return self.encoder[0].in_features

    @property
    def dtype(self) -> np.dtype:
        return self.encoder[0].weight.dtype

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, logvar)``, each (N, D), of q(z | x) for ``x`` (N, P)."""
        h = self.encoder(x)  # (N, 2D)
        d = self.latent_dim
        return h[:, :d], h[:, d:]  # (N, D) each

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Bernoulli logits (N, P) of p(x | z) for ``z`` (N, D); ``sigmoid`` gives the means."""
        return self.decoder(z)


def make_numpy_vae(
    latent_dim: int = 16,
    hidden: int | tuple[int, ...] = 512,
    *,
    input_dim: int = PIXELS,
    seed: int = 0,
    dtype: Any = np.float32,
    activation: Callable[[], Module] = ReLU,
) -> NumpyVAE:
    """An MLP VAE: encoder ``P -> hidden... -> 2D``, decoder ``D -> reversed(hidden)... -> P``.

    ``hidden`` is one width or a tuple (the decoder mirrors it); He-initialised
    weights drawn from ``default_rng(seed)``, the encoder's first.
    """
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    rng = np.random.default_rng(seed)
    kw = {"activation": activation, "rng": rng, "dtype": dtype}
    encoder = mlp((input_dim, *hidden, 2 * latent_dim), **kw)
    decoder = mlp((latent_dim, *reversed(hidden), input_dim), **kw)
    return NumpyVAE(encoder, decoder)


class VAEStepResult(NamedTuple):
    """The terms of one batch's loss, in nats per image (means over the batch)."""

    loss: float  # rec + beta * kl, the negative ELBO when beta = 1
    rec: float  # -log p(x | z) at the sampled z
    kl: float  # KL(q(z | x) || N(0, I)), closed form


def _check_batch(vae: NumpyVAE, x: np.ndarray, eps: np.ndarray) -> None:
    if x.ndim != 2 or x.shape[1] != vae.input_dim:
        raise ValueError(f"x must be (N, {vae.input_dim}), got shape {x.shape}")
    if eps.shape != (x.shape[0], vae.latent_dim):
        raise ValueError(
            f"eps has shape {eps.shape}, expected ({x.shape[0]}, {vae.latent_dim}): "
            f"one latent noise vector per row of x {x.shape}"
        )


def vae_step(vae: NumpyVAE, x: np.ndarray, eps: np.ndarray, *, beta: float = 1.0) -> VAEStepResult:
    """Forward and backward of the negative ELBO on one batch; sets every parameter's ``.grad``.

    Args:
        vae: the networks; their gradients are zeroed first.
        x: (N, P) pixels in [0, 1] ({0, 1} for a likelihood: binarised pictures).
        eps: (N, D) standard normal noise of the reparameterisation.
        beta: weight of the KL term (1: the ELBO).

    The chain rule, read from the loss back to the encoder's output h = (mu, logvar)::

        dL/dh = ( dL/dz dz/dmu     + beta dKL/dmu ,      dL/dz dz/dlogvar     + beta dKL/dlogvar )
                  (reparam backward)  (gaussian_kl)        (reparam backward)   (gaussian_kl)

    with dL/dz from the decoder's backward pass of dL/dlogits.
    """
    x, eps = np.asarray(x), np.asarray(eps)
    _check_batch(vae, x, eps)
    vae.zero_grad()
    # forward: q(z | x), one sample of z, p(x | z) (Kingma & Welling 2014, eq. 10)
    mu, logvar = vae.encode(x)  # (N, D) each
    z, rcache = reparameterize_forward(mu, logvar, eps)  # (N, D), eq-ch07-reparam
    logits = vae.decode(z)  # (N, P)
    rec, dlogits = bernoulli_nll(logits, x)  # -log p(x | z), eq-ch07-bernoulli
    kl, dmu_kl, dlogvar_kl = gaussian_kl(mu, logvar)  # closed form, appendix B
    # backward: the reconstruction term through the decoder and z ...
    dz = vae.decoder.backward(dlogits)  # (N, D)
    dmu, dlogvar = reparameterize_backward(dz, rcache)  # (N, D) each
    # ... plus the KL term, which depends on (mu, logvar) directly
    dh = np.concatenate([dmu + beta * dmu_kl, dlogvar + beta * dlogvar_kl], axis=1)  # (N, 2D)
    vae.encoder.backward(dh)  # the input gradient dx is not needed
    return VAEStepResult(float(rec + beta * kl), float(rec), float(kl))


def neg_elbo(
    vae: NumpyVAE,
    x: np.ndarray,
    *,
    samples: int = 1,
    seed: int = 0,
    batch_size: int = 1000,
) -> float:
    """The mean negative ELBO per image (nats) of ``vae`` on ``x`` (N, P) in {0, 1}; no gradients.

    ``E_q[-log p(x | z)]`` is averaged over ``samples`` draws of eps per image,
    from ``default_rng(seed)``; the KL is exact. More samples lower the variance
    of the estimate, not its mean: the estimate is unbiased for any ``samples``.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != vae.input_dim or len(x) == 0:
        raise ValueError(f"x must be non-empty (N, {vae.input_dim}), got shape {x.shape}")
    if samples < 1 or batch_size < 1:
        raise ValueError(f"samples and batch_size must be >= 1, got {samples} and {batch_size}")
    rng = np.random.default_rng(seed)
    dtype = vae.dtype
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].astype(dtype, copy=False)  # (B, P)
        n = len(xb)
        mu, logvar = vae.encode(xb)  # (B, D) each
        kl = float(gaussian_kl(mu, logvar)[0])
        rec = 0.0
        for _ in range(samples):
            eps = rng.standard_normal(mu.shape, dtype=dtype)  # (B, D)
            z, _ = reparameterize_forward(mu, logvar, eps)
            rec += float(bernoulli_nll(vae.decode(z), xb)[0])
        total += n * (rec / samples + kl)
    return total / len(x)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class NumpyVAEConfig:
    """Every setting of one NumPy-VAE run.

    Args:
        latent_dim: D, the size of z.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        activation: layer factory of the hidden layers (``ReLU``, ``Tanh``, ...).
        lr: Adam's learning rate; betas are torch's defaults (0.9, 0.999).
        batch_size: images per step.
        epochs: passes over the training split.
        max_seconds: wall-clock budget of training and validation (loading the
            data excluded),
            checked after every step; ``None``: no budget.
        val_size: images of the training set held out for validation, by a
            seeded permutation; the test set is never touched.
        train_limit: keep at most this many training images (``None``: all).
        seed: of the split, the initial weights, the order, the noise.
        dtype: ``"float32"`` (about twice as fast) or ``"float64"``.
        beta: weight of the KL term.
        init_output_bias: start the decoder's output bias at the log-odds of
            each pixel's mean over the training split, so that the first steps
            learn shapes rather than the average brightness (Burda et al. 2016
            initialise their output biases the same way).
        val_samples: draws of eps per validation image.
        blas_threads: BLAS threads during training (``None``: leave as is).
        fake_data: random pictures instead of Fashion-MNIST (tests need no dataset).
        fake_size: how many fake pictures, when ``fake_data``.
        progress: show a tqdm bar.
    """

    latent_dim: int = 16
    hidden: tuple[int, ...] = (512,)
    activation: Callable[[], Module] = ReLU
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 10
    max_seconds: float | None = None
    val_size: int = 5000
    train_limit: int | None = None
    seed: int = 0
    dtype: str = "float32"
    beta: float = 1.0
    init_output_bias: bool = True
    val_samples: int = 1
    blas_threads: int | None = None
    fake_data: bool = False
    fake_size: int = 2000
    progress: bool = True

    def __post_init__(self) -> None:
        positive = ("latent_dim", "batch_size", "epochs", "val_size", "val_samples", "fake_size")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be a non-empty tuple of ints >= 1, got {self.hidden!r}")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError(f"train_limit must be >= 1 or None, got {self.train_limit}")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise ValueError(f"blas_threads must be >= 1 or None, got {self.blas_threads}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive or None, got {self.max_seconds}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")


def fake_images(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` random uint8 pictures (n, 28, 28) with structure to learn: noisy copies of 10 blobs.

    Each picture is one of ten random prototypes (bright discs on a dark
    ground) in which a tenth of the pixels have been replaced by random grey levels.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:28, :28]  # (28, 28) each
    centres = rng.uniform(6, 22, size=(10, 2))
    radii = rng.uniform(3, 9, size=10)
    dist = np.hypot(rows - centres[:, 0, None, None], cols - centres[:, 1, None, None])
    protos = np.where(dist < radii[:, None, None], 230, 10).astype(np.uint8)  # (10, 28, 28)
    images = protos[rng.integers(0, 10, size=n)]  # (n, 28, 28)
    noise = rng.random(images.shape) < 0.1
    images[noise] = rng.integers(0, 256, size=int(noise.sum()), dtype=np.uint8)
    return images


class VAEData(NamedTuple):
    """The training split as uint8 grey levels, the validation split binarised once."""

    train: np.ndarray  # (N_train, 784) uint8, binarised afresh every epoch
    val: np.ndarray  # (val_size, 784) float {0, 1}, binarize(seed=0)


def load_vae_data(config: NumpyVAEConfig) -> VAEData:
    """The training images split into training and validation, as :func:`train_numpy_vae` uses them.

    A permutation seeded by ``config.seed`` picks ``val_size`` validation images;
    ``train_limit`` then caps the rest.
    """
    c = config
    if c.fake_data:
        images = fake_images(c.fake_size, seed=c.seed)
    else:
        images = load_fashion_mnist("train")[0]  # (60000, 28, 28) uint8
    images = images.reshape(len(images), -1)  # (N, 28, 28) -> (N, 784)
    if c.val_size >= len(images):
        raise ValueError(
            f"val_size={c.val_size} leaves no training images out of {len(images)} {images.shape}"
        )
    order = np.random.default_rng(c.seed).permutation(len(images))
    val, train = images[order[: c.val_size]], images[order[c.val_size :]]
    if c.train_limit is not None:
        train = train[: c.train_limit]
    return VAEData(train, binarize(val, seed=0).astype(c.dtype, copy=False))


@dataclass
class NumpyVAEHistory:
    """Per-step curves, per-epoch validation, and where the run stopped."""

    config: NumpyVAEConfig
    loss: list[float] = field(default_factory=list)  # per step, nats per image
    rec: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    val_neg_elbo: list[float] = field(default_factory=list)  # per epoch (the last may be partial)
    epoch_steps: list[int] = field(default_factory=list)  # steps done at each validation
    best_epoch: int = -1  # index into val_neg_elbo of the parameters kept
    seconds: float = 0.0  # wall clock of the run, validation included
    stopped_early: bool = False  # max_seconds ran out

    @property
    def best_val(self) -> float:
        return self.val_neg_elbo[self.best_epoch]


def _log_odds_of_mean(train: np.ndarray) -> np.ndarray:
    """``logit(mean pixel)`` (P,), clipped to [1e-3, 1 - 1e-3]: the best constant decoder."""
    p = np.clip(train.mean(axis=0) / 255.0, 1e-3, 1 - 1e-3)  # (P,)
    return np.log(p) - np.log1p(-p)


def _fresh_pixels(images: np.ndarray, seed: int, dtype: np.dtype) -> np.ndarray:
    """One epoch's binarisation of uint8 ``images``: pixel = 1 with probability grey / 255.

    ``u < grey`` with ``u`` uniform on the integers 0..254 has exactly that
    probability, and takes one byte per pixel where :func:`course_lib.data.binarize`
    (the test set's, fixed by the course) takes sixteen: 60,000 pictures need
    47 MB here instead of 750 MB, which keeps the notebook within Binder's memory.
    """
    u = np.random.default_rng(seed).integers(0, 255, size=images.shape, dtype=np.uint8)
    return (u < images).astype(dtype)


def train_numpy_vae(config: NumpyVAEConfig) -> tuple[NumpyVAE, NumpyVAEHistory]:
    """Train a VAE as set by ``config``; returns it with the best validation parameters restored.

    Each epoch the training images are binarised afresh with seed
    ``config.seed + epoch`` and visited in a new seeded order; after each epoch
    (and after the partial epoch when ``max_seconds`` runs out) the validation
    negative ELBO is measured with a fixed noise seed, so that epochs compare on
    the same pixels and the same eps.
    """
    c = config
    data = load_vae_data(c)
    dtype = np.dtype(c.dtype)
    vae = make_numpy_vae(c.latent_dim, c.hidden, seed=c.seed, dtype=dtype, activation=c.activation)
    if c.init_output_bias:
        vae.decoder[-1].bias.data = _log_odds_of_mean(data.train)
    opt = Adam(vae.parameters(), lr=c.lr)
    # the order of the images and the noise: two streams of their own
    order_rng, noise_rng = map(np.random.default_rng, np.random.SeedSequence(c.seed).spawn(2))
    history = NumpyVAEHistory(c)
    best: list[np.ndarray] = []
    n = len(data.train)
    steps_per_epoch = -(-n // c.batch_size)

    def validate() -> None:
        value = neg_elbo(vae, data.val, samples=c.val_samples, seed=c.seed)
        history.val_neg_elbo.append(value)
        history.epoch_steps.append(len(history.loss))
        if history.best_epoch < 0 or value < history.best_val:
            history.best_epoch = len(history.val_neg_elbo) - 1
            best[:] = [p.data.copy() for p in vae.parameters()]

    start = time.perf_counter()
    bar = tqdm(total=c.epochs * steps_per_epoch, disable=not c.progress, desc="NumPy VAE")
    with threadpool_limits(limits=c.blas_threads, user_api="blas"), bar:  # None: no limit
        for epoch in range(c.epochs):
            train = _fresh_pixels(data.train, c.seed + epoch, dtype)  # (N, P)
            perm = order_rng.permutation(n)
            for i in range(0, n, c.batch_size):
                xb = train[perm[i : i + c.batch_size]]  # (B, P)
                eps = noise_rng.standard_normal((len(xb), c.latent_dim), dtype=dtype)  # (B, D)
                r = vae_step(vae, xb, eps, beta=c.beta)
                opt.step()
                history.loss.append(r.loss)
                history.rec.append(r.rec)
                history.kl.append(r.kl)
                bar.update()
                if c.max_seconds is not None and time.perf_counter() - start > c.max_seconds:
                    history.stopped_early = True
                    break
            validate()
            bar.set_postfix(val=f"{history.val_neg_elbo[-1]:.1f}")
            if history.stopped_early:
                break
    for p, value in zip(vae.parameters(), best, strict=True):
        p.data = value  # the parameters of the best validation epoch
    history.seconds = time.perf_counter() - start
    return vae, history


def evaluate_test_set(
    vae: NumpyVAE, *, samples: int = 1, fake_data: bool = False, fake_size: int = 2000
) -> float:
    """The negative ELBO per image on the test split, binarised once with ``binarize(seed=0)``.

    ``fake_data``: on ``fake_images(fake_size, seed=12345)`` instead (a fixed
    "test set" of the fake pictures, for tests).
    """
    images = fake_images(fake_size, seed=12345) if fake_data else load_fashion_mnist("test")[0]
    x = binarize(images.reshape(len(images), -1), seed=0)  # (N, 784)
    return neg_elbo(vae, x, samples=samples, seed=0)


# The chapter's runs. "default", measured on the course's 2-core machine: 36 epochs (the last
# partial) in the 300 s budget, ~8 s an epoch (1.8 s of it binarising); validation -ELBO 257.4
# after one epoch, 248.2 after three, best 236.9 (epoch 34); test -ELBO 239.0 nats (1 sample;
# 239.1 with 10). Two BLAS threads: 13.5 s for two epochs against 15.0 s with one.
PRESETS: dict[str, NumpyVAEConfig] = {
    "default": NumpyVAEConfig(epochs=100, max_seconds=300.0, blas_threads=2),
    "smoke": NumpyVAEConfig(
        latent_dim=4,
        hidden=(64,),
        batch_size=50,
        epochs=4,
        val_size=200,
        train_limit=800,
        fake_data=True,
        fake_size=1000,
        progress=False,
    ),
}
