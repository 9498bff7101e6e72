"""The variational autoencoders of Chapter 7, and the bounds they are scored by.

A VAE (Kingma & Welling, ICLR 2014; Rezende, Mohamed & Wierstra, ICML 2014)
is a latent-variable model ``p(x, z) = p(z) p(x | z)`` with a standard normal
prior ``p(z) = N(0, I)`` and a decoder giving Bernoulli logits for the 784
binarised pixels, trained together with an encoder ``q(z | x) = N(mu(x),
diag(exp(logvar(x))))`` by maximising the evidence lower bound

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x)      (eq-ch07-elbo)

Every model here has ``encode(x) -> (mu, logvar)`` and ``decode(z) ->
logits``; :func:`elbo` and :func:`iwae_bound` accept any module that has them.
The numbers they return are nats per image (natural logarithms, summed over
the pixels), the unit the VAE literature reports on binarised MNIST.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvVAE",
    "MLPVAE",
    "active_from_means",
    "active_units",
    "elbo",
    "gaussian_kl_per_dim",
    "iwae_bound",
    "log_bernoulli",
    "sample_images",
]

SIDE = 28
PIXELS = SIDE * SIDE
LOG_2PI = math.log(2 * math.pi)


def _check_images(x: torch.Tensor) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, SIDE, SIDE):
        raise ValueError(f"x must be (N, 1, {SIDE}, {SIDE}) pixels in {{0, 1}}, "
                         f"got shape {tuple(x.shape)}")


def _check_latent(z: torch.Tensor, latent_dim: int) -> None:
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must be (N, {latent_dim}), got shape {tuple(z.shape)}")


class _GaussianVAE(nn.Module):
    """What both VAEs share: a diagonal Gaussian q(z | x) and a Bernoulli p(x | z).

    A subclass sets ``latent_dim`` and ``encoder`` (pictures -> (N, 2L): mu,
    then logvar) and defines ``_decode`` (codes (N, L) -> logits (N, 1, 28, 28)).
    """

    latent_dim: int
    encoder: nn.Module

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, 28, 28) -> mu (N, L), logvar (N, L) of q(z | x)."""
        _check_images(x)
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (N, L) each
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, L) -> Bernoulli logits (N, 1, 28, 28) of p(x | z)."""
        _check_latent(z, self.latent_dim)
        return self._decode(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reparameterised pass: (logits (N, 1, 28, 28), mu (N, L), logvar (N, L))."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # eq-ch07-reparam
        return self.decode(z), mu, logvar


class MLPVAE(_GaussianVAE):
    """Fully connected encoder and decoder, one hidden layer each (Kingma & Welling 2014, sec. 5).

    Shapes for ``latent_dim`` L and ``hidden`` H::

        encode: x (N, 1, 28, 28) -> flatten (N, 784) -> Linear, ReLU (N, H)
                -> Linear (N, 2L) -> mu (N, L), logvar (N, L)
        decode: z (N, L) -> Linear, ReLU (N, H) -> Linear (N, 784) -> logits (N, 1, 28, 28)

    The same network as the NumPy VAE of notebook 7.2
    (:mod:`course_lib.numpy_nn.vae`), so the two can be compared.
    """

    def __init__(self, latent_dim: int = 16, hidden: int = 512) -> None:
        super().__init__()
        if latent_dim < 1 or hidden < 1:
            raise ValueError(f"latent_dim and hidden must be >= 1, got {latent_dim}, {hidden}")
        self.latent_dim, self.hidden = latent_dim, hidden
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS)
        )

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, SIDE, SIDE)


class ConvVAE(_GaussianVAE):
    """Convolutional encoder and decoder for 28 x 28 pictures.

    Shapes for ``latent_dim`` L and ``width`` w::

        encode: x (N, 1, 28, 28) -> Conv 3x3, ELU           (N, w, 28, 28)
                Conv 4x4 stride 2, ELU                      (N, w, 14, 14)
                Conv 4x4 stride 2, ELU                      (N, 2w, 7, 7)
                flatten, Linear                             (N, 2L) -> mu, logvar (N, L)
        decode: z (N, L) -> Linear, ELU                     (N, 2w, 7, 7)
                ConvTranspose 4x4 stride 2, ELU             (N, w, 14, 14)
                Conv 3x3, ELU                               (N, w, 14, 14)
                ConvTranspose 4x4 stride 2, ELU             (N, w/2, 28, 28)
                Conv 3x3                                    (N, 1, 28, 28) logits

    The convolutions share weights across the picture, so this model has
    about a third of the MLP VAE's parameters. Half the channels at 28 x 28,
    where a channel costs four times what it costs at 14 x 14, keeps the
    decoder cheap enough for the 100 decoder passes per picture of the IWAE
    bound. 4 x 4 kernels with stride 2 cover every
    output pixel equally often: no checkerboard (Odena, Dumoulin & Olah 2016).
    The decoder is deliberately not autoregressive: each pixel is independent
    given z, so everything the picture shares must pass through z.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        if latent_dim < 1 or width < 2:
            raise ValueError(f"latent_dim must be >= 1 and width >= 2, got {latent_dim}, {width}")
        self.latent_dim, self.width = latent_dim, width
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ELU(),  # (N, w, 28, 28)
            nn.Conv2d(w, w, 4, stride=2, padding=1), nn.ELU(),  # (N, w, 14, 14)
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ELU(),  # (N, 2w, 7, 7)
            nn.Flatten(), nn.Linear(2 * w * 49, 2 * latent_dim),  # (N, 2L)
        )
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * w * 49), nn.ELU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ELU(),  # (N, w, 14, 14)
            nn.Conv2d(w, w, 3, padding=1), nn.ELU(),  # (N, w, 14, 14)
            nn.ConvTranspose2d(w, w // 2, 4, stride=2, padding=1), nn.ELU(),  # (N, w/2, 28, 28)
            nn.Conv2d(w // 2, 1, 3, padding=1),  # (N, 1, 28, 28) logits
        )

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, 2 * self.width, 7, 7)  # (N, 2w, 7, 7)
        return self.decoder(h)


# ---------------------------------------------------------------------------
# The bounds
# ---------------------------------------------------------------------------


def log_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log p(x | logits)`` summed over all but the first axis: (N, ...) -> (N,) nats.

    ``x log sigmoid(l) + (1 - x) log sigmoid(-l) = -BCE_with_logits(l, x)``,
    stable for any logit (eq-ch07-bernoulli).
    """
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(1).sum(1)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, 1))`` of each latent dimension: (N, L) -> (N, L) nats.

    Kingma & Welling 2014, appendix B; Chapter 4, eq-ch04-gaussian-kl. The sum
    over dimensions is the KL of the diagonal Gaussian, the VAE's *rate*.
    """
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)


def _encoded(vae: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not (hasattr(vae, "encode") and hasattr(vae, "decode")):
        raise TypeError(f"expected a module with encode() and decode(), got {type(vae).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W) pixels in {{0, 1}}, got shape {tuple(x.shape)}")
    return vae.encode(x)


def elbo(vae: nn.Module, x: torch.Tensor, *, samples: int = 1) -> torch.Tensor:
    """The evidence lower bound of each picture: x (N, 1, 28, 28) in {0, 1} -> (N,) nats.

    ``E_q[log p(x | z)]`` estimated with ``samples`` reparameterised draws
    ``z = mu + sigma * eps``, minus ``KL(q(z | x) || N(0, I))`` in closed form
    (eq-ch07-elbo). Differentiable: ``-elbo(vae, x).mean()`` is the training
    loss. Works for any module with ``encode``/``decode``.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    mu, logvar = _encoded(vae, x)  # (N, L) each
    std = torch.exp(0.5 * logvar)
    rec = 0.0
    for _ in range(samples):
        z = mu + std * torch.randn_like(mu)  # (N, L), eq-ch07-reparam
        rec = rec + log_bernoulli(vae.decode(z), x)  # (N,)
    kl = gaussian_kl_per_dim(mu, logvar).sum(1)  # (N,)
    return rec / samples - kl


@torch.no_grad()
def iwae_bound(vae: nn.Module, x: torch.Tensor, *, k: int = 100,
               chunk: int = 2_000) -> torch.Tensor:
    """The importance-weighted bound of each picture (Burda, Grosse & Salakhutdinov, ICLR 2016).

    ``log (1/k) sum_i p(x, z_i) / q(z_i | x)`` with ``z_i ~ q(z | x)``,
    x (N, 1, 28, 28) -> (N,) nats (eq-ch07-iwae). ``k = 1`` is an unbiased
    one-sample estimate of the ELBO; the bound rises monotonically in
    expectation with ``k`` towards ``log p(x)``, so ``-iwae_bound(vae, x,
    k=100)`` is the negative log-likelihood the chapter reports. The sum is a
    log-sum-exp, because single weights ``exp(log p - log q)`` are of the order
    ``e^-200`` and underflow. At most ``chunk`` pictures are decoded at once.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = len(x)
    per = max(1, chunk // k)  # pictures per pass, k samples each
    out = []
    for start in range(0, n, per):
        xb = x[start:start + per]  # (B, 1, 28, 28)
        mu, logvar = _encoded(vae, xb)  # (B, L)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype)  # (k, B, L)
        z = mu + std * eps  # (k, B, L)
        logits = vae.decode(z.reshape(-1, mu.shape[1]))  # (k*B, 1, 28, 28)
        log_px_z = log_bernoulli(logits, xb.repeat(k, 1, 1, 1)).view(k, -1)  # (k, B)
        log_pz = -0.5 * (z * z + LOG_2PI).sum(2)  # (k, B): log N(z; 0, I)
        log_qz = -0.5 * (eps * eps + LOG_2PI + logvar).sum(2)  # (k, B): log N(z; mu, sigma^2)
        log_w = log_px_z + log_pz - log_qz  # (k, B) log importance weights
        out.append(torch.logsumexp(log_w, dim=0) - math.log(k))  # (B,)
    return torch.cat(out)


@torch.no_grad()
def active_units(vae: nn.Module, x: torch.Tensor, *, threshold: float = 0.01) -> torch.Tensor:
    """Which latent dimensions the encoder uses: (L,) bool (Burda et al. 2016, sec. 5.2).

    A dimension is active when its posterior mean varies over the data,
    ``Cov_x(E_q[z_j | x]) > threshold``. A collapsed dimension has ``q(z_j |
    x) = p(z_j)`` for every x: its mean is 0 for every picture, and its KL is 0.
    """
    mu, _ = _encoded(vae, x)
    return active_from_means(mu, threshold)


def active_from_means(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """(N, L) posterior means -> (L,) bool: the criterion of :func:`active_units`."""
    return mu.var(0) > threshold


@torch.no_grad()
def sample_images(vae: nn.Module, n: int, *, seed: int = 0, binary: bool = False) -> np.ndarray:
    """``n`` pictures from the model, uint8 (n, 28, 28), deterministic in ``seed``.

    ``z ~ N(0, I)`` decoded to pixel probabilities; by default the picture
    shown is those probabilities as grey levels (the decoder's mean), which is
    what VAE papers show and what the Fréchet distance of Chapter 6 is
    computed on. ``binary=True`` draws the pixels themselves, a true sample
    of the Bernoulli model.
    """
    device = next(vae.parameters()).device
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, vae.latent_dim, generator=g).to(device)
    probs = torch.sigmoid(vae.decode(z).float())[:, 0]  # (n, 28, 28)
    if binary:
        probs = (torch.rand(probs.shape, generator=g).to(device) < probs).float()
    return (probs * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
