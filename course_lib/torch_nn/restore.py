"""The networks of Chapter 9 and latent-code inpainting: restoring and translating pictures.

Every model here maps pictures in [0, 1] to pictures in [0, 1] and is fully
convolutional, so it takes any height and width (``ESPCN``: any; the U-Net:
multiples of 4)::

    den = load_pretrained("denoiser")   # DnCNN: (N, 1, H, W) noisy -> (N, 1, H, W)
    sr = load_pretrained("sr2x")        # ESPCN: (N, 1, H, W) -> (N, 1, 2H, 2W)
    g = load_pretrained("pix2pix")      # UNet: Sobel edges (N, 1, H, W) -> garment (N, 1, H, W)
    out = inpaint(vae, images, mask, steps=200)   # mask 1 = known pixel, kept exactly

In evaluation mode the restoring networks clip their output to [0, 1] (a
picture cannot be brighter than white); in training mode they do not, so no
gradient is cut off. The degradations the networks undo (:func:`add_noise`,
:func:`downscale2x`, :func:`sobel_edges`) are here too, so that training,
the tests and the book degrade pictures the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ESPCN",
    "DnCNN",
    "PatchDiscriminator",
    "Pix2Pix",
    "UNet",
    "add_noise",
    "bicubic_upscale2x",
    "downscale2x",
    "icnr_",
    "inpaint",
    "sobel_edges",
]


def _check_images(x: torch.Tensor, who: str, channels: int = 1) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{who} expects pictures (N, {channels}, H, W), got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{who} expects float pictures in [0, 1], got {x.dtype}")


def _positive_int(**values: int) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")


# ---------------------------------------------------------------------------
# Degradations
# ---------------------------------------------------------------------------


def add_noise(x: torch.Tensor, sigma: float | torch.Tensor, *, generator: torch.Generator | None
              = None, clip: bool = True) -> torch.Tensor:
    """``x + sigma * n`` with n ~ N(0, 1) per pixel, clipped to [0, 1] (stored pictures are).

    ``sigma`` on the [0, 1] scale (σ = 25/255 is "σ = 25"), a float or one
    value per picture (N,). Clipping makes the noise non-Gaussian where the
    picture is black or white, which matters for Fashion-MNIST's black
    backgrounds: it is why the noisy input measures 21.8 dB at σ = 25 rather
    than ``20 log10(255/25) = 20.2`` dB.
    """
    _check_images(x, "add_noise", x.shape[1] if x.ndim == 4 else 1)
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if (s < 0).any():
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if s.ndim == 1:
        s = s.view(-1, 1, 1, 1)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    y = x + s * noise
    return y.clamp(0.0, 1.0) if clip else y


def downscale2x(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, W/2) by antialiased bicubic resampling (MATLAB's imresize).

    The low-resolution pictures of super-resolution papers since SRCNN are
    made this way; H and W must be even so that ×2 gives back the same size.
    """
    if x.ndim != 4 or x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"downscale2x expects (N, C, H, W) with H, W even, got {tuple(x.shape)}")
    return F.interpolate(x, scale_factor=0.5, mode="bicubic", align_corners=False,
                         antialias=True).clamp(0.0, 1.0)


def bicubic_upscale2x(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W): bicubic interpolation, the baseline of super-resolution."""
    if x.ndim != 4:
        raise ValueError(f"bicubic_upscale2x expects (N, C, H, W), got {tuple(x.shape)}")
    return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False).clamp(0.0, 1.0)


_SX = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_edges(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude, (N, 1, H, W) in [0, 1] -> (N, 1, H, W) in [0, 1].

    Chapter 1's ``sobel_magnitude`` (``sqrt(gx² + gy²)`` of the valid
    cross-correlations with SX and SY = SXᵀ) on the picture padded by
    replicating its border, so the map keeps the picture's size, divided by
    its largest possible value ``4 √2`` (a step from 0 to 1 along a diagonal).
    """
    _check_images(x, "sobel_edges")
    k = torch.stack([_SX, _SX.T]).to(x)[:, None]  # (2, 1, 3, 3)
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)  # (N, 2, H, W): gx, gy
    return g.pow(2).sum(1, keepdim=True).sqrt() / (4.0 * math.sqrt(2.0))


# ---------------------------------------------------------------------------
# Denoising: DnCNN
# ---------------------------------------------------------------------------


class DnCNN(nn.Module):
    """A blind residual denoiser (Zhang et al. 2017): predict the noise, subtract it.

    Shapes for ``depth`` D and ``width`` w, any H and W::

        y (N, 1, H, W) -> Conv 3x3, ReLU                      (N, w, H, W)
                          (D - 2) x [Conv 3x3, BN, ReLU]      (N, w, H, W)
                          Conv 3x3                            (N, 1, H, W) = r(y)
        x_hat = y - r(y)

    Learning the residual ``r ≈ y - x`` instead of ``x`` is the paper's
    point: the noise is small and structureless where the picture is not,
    and batch norm with residual learning trains faster and better (their
    Fig. 2). Trained over a range of σ, one network denoises every level
    without being told σ ("blind"). The receptive field is ``2D + 1`` pixels.
    """

    def __init__(self, *, depth: int = 10, width: int = 40) -> None:
        super().__init__()
        _positive_int(depth=depth, width=width)
        if depth < 3:
            raise ValueError(f"depth must be >= 3 (first, middle and last layer), got {depth}")
        self.depth, self.width = depth, width
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """The predicted noise r(y), (N, 1, H, W)."""
        _check_images(y, "DnCNN")
        return self.body(y)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Noisy (N, 1, H, W) -> denoised (N, 1, H, W); clipped to [0, 1] in eval mode."""
        x = y - self.residual(y)
        return x if self.training else x.clamp(0.0, 1.0)


# ---------------------------------------------------------------------------
# Super-resolution: ESPCN
# ---------------------------------------------------------------------------


def icnr_(weight: torch.Tensor, scale: int, init=nn.init.kaiming_normal_) -> torch.Tensor:
    """ICNR initialisation (Aitken et al. 2017) of a conv before ``PixelShuffle(scale)``, in place.

    ``weight`` (C·r², C_in, k, k): each group of r² output channels that the
    shuffle spreads over one r × r block starts as copies of one kernel, so
    at initialisation the shuffled output equals nearest-neighbour
    upsampling of a convolution and has no checkerboard; training then
    departs from it smoothly.
    """
    out_ch = weight.shape[0]
    r2 = scale * scale
    if out_ch % r2:
        raise ValueError(f"{out_ch} output channels are not a multiple of scale² = {r2}")
    sub = init(torch.empty(out_ch // r2, *weight.shape[1:]))
    with torch.no_grad():  # PixelShuffle reads channel c * r² + i for sub-pixel i of channel c
        weight.copy_(sub.repeat_interleave(r2, dim=0))
    return weight


class ESPCN(nn.Module):
    """Super-resolution ×``scale`` by sub-pixel convolution (Shi et al. 2016).

    Shapes for widths (w1, w2) and scale r::

        x (N, 1, H, W) -> Conv 5x5, ReLU               (N, w1, H, W)
                          Conv 3x3, ReLU               (N, w2, H, W)
                          Conv 3x3                     (N, r², H, W)
                          PixelShuffle(r)              (N, 1, rH, rW)
        out = bicubic(x) + that                        (residual=True)

    Every convolution runs at the *low* resolution, r² times cheaper than
    upsampling first (SRCNN); the pixel shuffle is a pure reshape
    (eq-ch09-pixel-shuffle). The last convolution starts from ICNR
    (:func:`icnr_`), so the output has no checkerboard at initialisation.
    ``residual=True`` adds the bicubic interpolation of the input, so the
    network learns only the missing detail (global residual learning, Kim,
    Lee & Lee 2016 (VDSR)); the original ESPCN has ``residual=False`` and
    tanh activations.
    """

    def __init__(self, *, scale: int = 2, widths: tuple[int, int] = (64, 32),
                 residual: bool = True) -> None:
        super().__init__()
        _positive_int(scale=scale)
        if len(widths) != 2:
            raise ValueError(f"widths must be two channel counts, got {widths!r}")
        _positive_int(w1=widths[0], w2=widths[1])
        self.scale, self.widths, self.residual = scale, tuple(widths), residual
        w1, w2 = widths
        self.features = nn.Sequential(
            nn.Conv2d(1, w1, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.to_subpixels = nn.Conv2d(w2, scale * scale, 3, padding=1)
        icnr_(self.to_subpixels.weight, scale)
        nn.init.zeros_(self.to_subpixels.bias)  # one bias per sub-pixel would print a pattern
        if residual:  # the network starts as bicubic interpolation plus a small correction
            self.to_subpixels.weight.data.mul_(0.1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, scale H, scale W); clipped to [0, 1] in eval mode."""
        _check_images(x, "ESPCN")
        out = self.shuffle(self.to_subpixels(self.features(x)))
        if self.residual:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic",
                                      align_corners=False)
        return out if self.training else out.clamp(0.0, 1.0)


# ---------------------------------------------------------------------------
# Image-to-image translation: pix2pix
# ---------------------------------------------------------------------------


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class UNet(nn.Module):
    """The pix2pix generator: an encoder-decoder whose skip connections carry the edges' detail.

    Shapes for width w (H and W multiples of 4; 28 x 28 for Fashion-MNIST)::

        e (N, 1, H, W) -> down0: 2 x Conv 3x3          (N, w, H, W)       ─┐ skip
        MaxPool, down1                                  (N, 2w, H/2, W/2)  ─┤ skip
        MaxPool, bottom                                 (N, 4w, H/4, W/4)   │
        Upsample x2, Conv 3x3, cat skip1, 2 x Conv      (N, 2w, H/2, W/2)  ←┤
        Upsample x2, Conv 3x3, cat skip0, 2 x Conv      (N, w, H, W)       ←┘
        Conv 1x1, sigmoid                               (N, 1, H, W) in [0, 1]

    Isola et al. (2017) use strided 4 x 4 convolutions down to 1 x 1 for 256
    x 256 pictures; at 28 x 28 two halvings suffice (the bottom sees 7 x 7
    with a 3 x 3 kernel, the whole picture). Upsampling then convolving, not
    a transposed convolution, so no checkerboard (Odena et al. 2016;
    notebook 9.2). The paper's dropout-as-noise is left out: they report the
    generator learns to ignore input noise, and deterministic outputs are
    easier to compare.
    """

    def __init__(self, *, width: int = 16) -> None:
        super().__init__()
        _positive_int(width=width)
        self.width = w = width
        self.down0 = _double_conv(1, w)
        self.down1 = _double_conv(w, 2 * w)
        self.bottom = _double_conv(2 * w, 4 * w)
        self.up1 = nn.Conv2d(4 * w, 2 * w, 3, padding=1)
        self.dec1 = _double_conv(4 * w, 2 * w)
        self.up0 = nn.Conv2d(2 * w, w, 3, padding=1)
        self.dec0 = _double_conv(2 * w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        _check_images(e, "UNet")
        if e.shape[-1] % 4 or e.shape[-2] % 4:
            raise ValueError(f"UNet needs H and W multiples of 4, got {tuple(e.shape[-2:])}")
        s0 = self.down0(e)
        s1 = self.down1(F.max_pool2d(s0, 2))
        h = self.bottom(F.max_pool2d(s1, 2))
        h = self.up1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.dec1(torch.cat([h, s1], 1))
        h = self.up0(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.dec0(torch.cat([h, s0], 1))
        return torch.sigmoid(self.out(h))


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): a real/fake logit per overlapping patch of the pair (e, x).

    Shapes for width w::

        cat(e, x) (N, 2, H, W) -> Conv 4x4 s2, LeakyReLU       (N, w, H/2, W/2)
                                  Conv 4x4 s2, BN, LeakyReLU   (N, 2w, H/4, W/4)
                                  Conv 3x3                     (N, 1, H/4, W/4) logits

    Each logit sees an 18 x 18 patch (Chapter 1's receptive field:
    ``1 + 2·4 + 3·2 + 3·1 = 18``): the L1 term already gets the low
    frequencies right, so the discriminator only needs to judge local
    texture and sharpness.
    """

    def __init__(self, *, width: int = 32) -> None:
        super().__init__()
        _positive_int(width=width)
        self.width = w = width
        self.net = nn.Sequential(
            nn.Conv2d(2, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 1, 3, padding=1),
        )

    def forward(self, e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        _check_images(e, "PatchDiscriminator")
        _check_images(x, "PatchDiscriminator")
        return self.net(torch.cat([e, x], 1))


class Pix2Pix(nn.Module):
    """The pair trained together by the ``pix2pix`` task; ``forward`` is the generator's."""

    def __init__(self, *, width: int = 16, d_width: int = 32) -> None:
        super().__init__()
        self.generator = UNet(width=width)
        self.discriminator = PatchDiscriminator(width=d_width)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.generator(e)


# ---------------------------------------------------------------------------
# Inpainting by optimising a latent code
# ---------------------------------------------------------------------------


def _decoder(model: nn.Module, labels: torch.Tensor | None):
    """``(decode, latent_dim, encode or None)``: z (N, L) -> pictures (N, 1, H, W) in [0, 1]."""
    if hasattr(model, "encode") and hasattr(model, "decode"):  # a VAE of Chapter 7
        return (lambda z: torch.sigmoid(model.decode(z))), model.latent_dim, model.encode
    gen = model.sampler() if hasattr(model, "sampler") else model  # a GAN or its generator
    if not hasattr(gen, "latent_dim"):
        raise ValueError("inpaint needs a VAE (encode/decode) or a Chapter 6 generator, "
                         f"got {type(model).__name__}")
    if gen.num_classes and labels is None:
        raise ValueError("a conditional generator needs labels= for inpaint")
    return (lambda z: (gen(z, labels) + 1.0) / 2.0), gen.latent_dim, None


def inpaint(
    model: nn.Module,
    images: torch.Tensor,
    mask: torch.Tensor,
    *,
    steps: int = 200,
    restarts: int = 4,
    lr: float = 0.05,
    prior_weight: float = 1.0,
    noise_std: float = 0.1,
    labels: torch.Tensor | None = None,
    seed: int = 0,
    return_codes: bool = False,
):
    """Fill the unknown pixels with the most probable picture of a model that fits the known ones.

    ``images`` (N, 1, H, W) in [0, 1]; ``mask`` 1 where a pixel is known, 0
    in the hole, of the same shape or broadcastable to it ((H, W), (1, 1, H,
    W)). ``model`` is a Chapter 7 VAE (``encode``/``decode``) or a Chapter 6
    generator (or the ``GAN`` holding it). For each picture, Adam minimises
    over the latent code (eq-ch09-inpaint)::

        E(z) = -log p(x_known | z) + prior_weight * |z|² / 2

    the negative log-likelihood of the *known* pixels only, under the VAE's
    Bernoulli decoder (its cross-entropy with grey levels as targets), or
    under a Gaussian of standard deviation ``noise_std`` around the
    generator's picture; the second term is the N(0, I) prior's, so the code
    stays where the model has seen data. ``restarts`` codes per picture (the
    first from the VAE encoder's mean of the picture with its hole filled by
    the mean known grey level, where there is an encoder; the others drawn
    from the prior with ``seed``) run side by side and the one with the
    lowest final E is kept. Returns pictures (N, 1, H, W) whose known pixels
    are exactly ``images``' and whose hole is the decoded picture's; with
    ``return_codes=True``, also the codes (N, L) and the final E (N,).
    """
    _check_images(images, "inpaint")
    _positive_int(steps=steps, restarts=restarts)
    mask = torch.as_tensor(mask, dtype=images.dtype, device=images.device)
    try:
        mask = torch.broadcast_to(mask, images.shape)
    except RuntimeError as err:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the images' "
                         f"{tuple(images.shape)}") from err
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 (unknown) and 1 (known)")
    n, r = len(images), restarts
    if labels is not None:
        labels = torch.as_tensor(labels, device=images.device).repeat_interleave(r)
    was_training = model.training
    model.eval()
    for p in model.parameters():  # only the codes are optimised
        p.requires_grad_(False)
    try:
        decode, latent_dim, encode = _decoder(model, labels)
        x = images.repeat_interleave(r, 0)  # (N r, 1, H, W): restarts side by side
        m = mask.repeat_interleave(r, 0)
        g = torch.Generator(device="cpu").manual_seed(seed)
        z0 = torch.randn(n, r, latent_dim, generator=g).to(images)
        if encode is not None:
            known_mean = (images * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3)).clamp(min=1)
            filled = mask * images + (1 - mask) * known_mean.view(-1, 1, 1, 1)
            with torch.no_grad():
                z0[:, 0] = encode(filled)[0]
        z = z0.reshape(n * r, latent_dim).clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)

        def energy() -> torch.Tensor:  # (N r,)
            out = decode(z)
            if encode is not None:  # Bernoulli: cross-entropy, log clamped as BCE does
                nll = F.binary_cross_entropy(out, x, reduction="none")
            else:
                nll = (out - x) ** 2 / (2 * noise_std**2)
            return (nll * m).sum((1, 2, 3)) + prior_weight * 0.5 * z.pow(2).sum(1)

        with torch.enable_grad():
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                energy().sum().backward()  # codes are independent: the sum's gradient is each's
                opt.step()
        with torch.no_grad():
            e = energy().view(n, r)
            best = e.argmin(1)
            rows = torch.arange(n, device=images.device) * r + best.to(images.device)
            decoded = decode(z)[rows]
            codes, final = z.detach()[rows], e[torch.arange(n), best]
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    out = mask * images + (1 - mask) * decoded  # known pixels exactly the input's
    return (out, codes, final) if return_codes else out
