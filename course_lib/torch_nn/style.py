"""Neural style transfer in PyTorch: the losses of Chapter 4, Gatys' optimisation, colour control.

    net = feature_network("auto")               # VGG-19 if its weights are on disk, else offline
    img, history = stylize(content, style, network=net, steps=300)

Gatys, Ecker & Bethge (2016) look for the picture whose features in a fixed
network match a *content* picture's at one deep layer and whose Gram
matrices match a *style* picture's at several layers; TV smooths the result
(Mahendran & Vedaldi 2015). The losses are those Chapter 4 derived with the
NumPy code (``course_lib.numpy_nn.functional.style``), in torch:

* ``gram_matrix``: ``F F^T / (C H W)`` (eq-ch04-gram);
* the style loss of a layer, in Gatys' normalisation
  ``E_l = 1 / (4 C_l^2 M_l^2) sum (G^raw - A^raw)^2``, which with the
  normalised Gram matrices is ``(C_l^2 / 4) * mean((G - A)^2)``
  (eq-ch08-style-layer): the per-layer factor ``C_l^2 / 4`` differs between
  layers, so it is not one overall constant that the style weight absorbs;
* the content loss ``mean((F - P)^2)`` at one layer (eq-ch08-content), and
  the squared TV (eq-ch04-tv).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from course_lib.torch_nn.style_networks import FeatureNetwork, feature_network

__all__ = [
    "StyleHistory",
    "content_loss",
    "gram_matrix",
    "keep_colours",
    "load_picture",
    "layer_style_loss",
    "luminance",
    "match_luminance",
    "style_losses",
    "style_targets",
    "stylize",
    "tv_loss",
]


def gram_matrix(feats: torch.Tensor) -> torch.Tensor:
    """``feats`` (N, C, H, W) -> Gram matrices (N, C, C), divided by C*H*W (eq-ch04-gram)."""
    if feats.ndim != 4:
        raise ValueError(f"expected features (N, C, H, W), got {tuple(feats.shape)}")
    n, c, h, w = feats.shape
    flat = feats.reshape(n, c, h * w)  # (N, C, HW)
    return flat @ flat.transpose(1, 2) / (c * h * w)  # (N, C, C)


def layer_style_loss(feats: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Gatys' style loss of one layer, ``(C^2 / 4) mean((G - A)^2)`` (eq-ch08-style-layer).

    ``feats`` (N, C, H, W); ``target_gram`` (C, C) or (N, C, C), normalised as
    :func:`gram_matrix`. Equal to ``1/(4 C^2 M^2) sum (F F^T - A_raw)^2`` with
    the raw Gram matrices and ``M = H W``: the mean over the N pictures.
    """
    gram = gram_matrix(feats)
    c = gram.shape[-1]
    return c * c / 4 * ((gram - target_gram) ** 2).mean()


def content_loss(feats: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((F - P)^2)`` between a layer's features and the content's (eq-ch08-content)."""
    return F.mse_loss(feats, target)


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Squared total variation of images (N, C, H, W), as NumPy's ``tv_loss(p=2)`` (eq-ch04-tv)."""
    dv = img[:, :, 1:, :] - img[:, :, :-1, :]  # (N, C, H-1, W)
    dh = img[:, :, :, 1:] - img[:, :, :, :-1]  # (N, C, H, W-1)
    return (dv**2).mean() + (dh**2).mean()


def load_picture(name: str, size: int = 256, *, crop: bool = True) -> torch.Tensor:
    """A scikit-image sample picture as float (1, 3, size, size) in [0, 1] (grey ones as grey RGB).

    The shorter side is resized to ``size`` (antialiased bilinear) and, with
    ``crop``, the centre square is kept; without, the other side is rounded
    to a multiple of 4 (what :class:`~course_lib.torch_nn.fast_style.TransformerNet` needs).
    """
    from course_lib.data import sample_image

    img = torch.from_numpy(sample_image(name)).permute(2, 0, 1)[None]  # (1, C, H, W)
    img = img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img
    h, w = img.shape[2:]
    scale = size / min(h, w)
    new = (max(size, round(h * scale / 4) * 4), max(size, round(w * scale / 4) * 4))
    img = F.interpolate(img, size=new, mode="bilinear", antialias=True, align_corners=False)
    if crop:
        top, left = (new[0] - size) // 2, (new[1] - size) // 2
        img = img[:, :, top:top + size, left:left + size]
    return img.clamp(0, 1).contiguous()


def _picture(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or len(x) != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a float tensor (1, 3, H, W) in [0, 1], got {shape}")
    if not x.is_floating_point() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must be float in [0, 1]")
    return x


@torch.no_grad()
def style_targets(net: FeatureNetwork, style: torch.Tensor | Sequence[torch.Tensor],
                  layers: Sequence[str], mix: Sequence[float] | None = None
                  ) -> dict[str, torch.Tensor]:
    """Target Gram matrices ``{layer: (C, C)}`` of a style picture, or a blend of several.

    With several pictures, ``mix`` (weights summing to 1; default equal)
    blends their Gram matrices: ``A = sum_k mix_k A_k`` (style interpolation).
    """
    styles = [style] if isinstance(style, torch.Tensor) else list(style)
    if not styles:
        raise ValueError("give at least one style picture")
    mix = [1 / len(styles)] * len(styles) if mix is None else list(mix)
    if len(mix) != len(styles) or abs(sum(mix) - 1) > 1e-6 or min(mix) < 0:
        raise ValueError(f"mix must be {len(styles)} non-negative weights summing to 1, got {mix}")
    out: dict[str, torch.Tensor] = {}
    for s, m in zip(styles, mix, strict=True):
        feats = net(_picture(s, "style"), layers)
        for k in layers:
            out[k] = out.get(k, 0) + m * gram_matrix(feats[k])[0]
    return out


def style_losses(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                 weights: Mapping[str, float]) -> torch.Tensor:
    """``sum_l w_l E_l`` over the style layers (eq-ch08-style)."""
    return sum(w * layer_style_loss(feats[k], targets[k]) for k, w in weights.items())


@dataclass
class StyleHistory:
    """Per evaluation of the objective: the total and its three terms (weighted), and the time."""

    network: str = ""
    optimizer: str = ""
    loss: list[float] = field(default_factory=list)
    content: list[float] = field(default_factory=list)
    style: list[float] = field(default_factory=list)
    tv: list[float] = field(default_factory=list)
    seconds: float = 0.0


def stylize(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor] | None,
    *,
    network: FeatureNetwork | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    content_weight: float = 1.0,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    style_layers: Mapping[str, float] | Sequence[str] | None = None,
    content_layer: str | None = None,
    mix: Sequence[float] | None = None,
    init: str = "content",
    lr: float = 0.02,
    seed: int = 0,
    progress: bool = True,
    targets: Mapping[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, StyleHistory]:
    """Gatys et al. (2016): optimise the pixels of a picture for content and style (eq-ch08-total).

    ``content`` and each ``style`` are float (1, 3, H, W) in [0, 1] (the
    style may have another size); returns the picture (1, 3, H, W) in [0, 1]
    and a :class:`StyleHistory`. The objective is
    ``content_weight * content_loss + style_weight * sum_l w_l E_l + tv_weight * TV``.
    ``style_layers`` lists the layers (equal weights ``1/L``) or maps them to
    their weights ``w_l``; default: the network's ``style_layers``. ``mix``
    blends several style pictures. ``style_weight`` and ``tv_weight`` default
    to the network's (``net.style_weight``, ``net.tv_weight``).
    ``content_weight=0`` with ``init="noise"`` synthesises a texture.
    ``optimizer`` ``"lbfgs"`` (``steps`` evaluations of the objective, with a
    strong-Wolfe line search) or ``"adam"`` (``steps`` updates of size ``lr``).
    Pixels are clipped to [0, 1] between iterations.
    ``targets`` (Gram matrices by layer, from :func:`style_targets`) replace
    ``style``, which may then be None.
    """
    content = _picture(content, "content")
    net = network if network is not None else feature_network("auto", device=content.device)
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if style_layers is None:
        style_layers = net.style_layers
    weights = (dict(style_layers) if isinstance(style_layers, Mapping)
               else {k: 1 / len(style_layers) for k in style_layers})
    c_layer = content_layer or net.content_layer
    style_weight = net.style_weight if style_weight is None else style_weight
    tv_weight = net.tv_weight if tv_weight is None else tv_weight
    if targets is None:
        if style is None:
            raise ValueError("give a style picture or its targets")
        targets = style_targets(net, style, list(weights), mix)
    missing = set(weights) - set(targets)
    if missing:
        raise ValueError(f"targets lack the style layers {sorted(missing)}")
    with torch.no_grad():
        p_content = net(content, [c_layer])[c_layer]
    if init == "content":
        x = content.clone()
    else:
        g = torch.Generator(device="cpu").manual_seed(seed)
        x = torch.rand(content.shape, generator=g).to(content.device)
    x.requires_grad_(True)
    layers = list({*weights, c_layer})
    hist = StyleHistory(network=net.name, optimizer=optimizer)
    bar = tqdm(total=steps, desc=f"stylize ({net.name}, {optimizer})", unit="step",
               disable=None if progress else True, dynamic_ncols=True)

    def objective() -> torch.Tensor:
        feats = net(x, layers)
        c = (content_weight * content_loss(feats[c_layer], p_content) if content_weight
             else x.new_zeros(()))
        s = style_weight * style_losses(feats, targets, weights)
        t = tv_weight * tv_loss(x)
        total = c + s + t
        for name, v in (("loss", total), ("content", c), ("style", s), ("tv", t)):
            getattr(hist, name).append(float(v.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{hist.loss[-1]:.4g}", refresh=False)
        return total

    tic = time.perf_counter()
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1, max_iter=20, history_size=10,
                                line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        while len(hist.loss) < steps:
            # max_eval caps the evaluations of this call, so the total is exactly `steps`
            opt.param_groups[0]["max_eval"] = steps - len(hist.loss)
            opt.param_groups[0]["max_iter"] = min(20, steps - len(hist.loss))
            opt.step(closure)
            with torch.no_grad():
                x.clamp_(0, 1)
    else:
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            objective().backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
    hist.seconds = time.perf_counter() - tic
    bar.close()
    return x.detach(), hist


# ---------------------------------------------------------------------------
# Colour control (Gatys, Bethge, Hertzmann & Shechtman 2017)
# ---------------------------------------------------------------------------

_LUMA = (0.299, 0.587, 0.114)  # YIQ's Y (ITU-R BT.601)


def luminance(img: torch.Tensor) -> torch.Tensor:
    """Luminance Y (N, 1, H, W) of RGB pictures (N, 3, H, W), the Y of YIQ."""
    w = img.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance, shifted and scaled to the content's mean and spread, as grey RGB.

    Gatys et al. 2017, sec. 5.1 (luminance-only transfer): the style's Y
    channel after ``(Y_s - mu_s) * sigma_c / sigma_s + mu_c``, repeated on
    three channels so the feature network can take it.
    """
    ys, yc = luminance(style), luminance(content)
    y = (ys - ys.mean()) * (yc.std() / ys.std().clamp_min(1e-6)) + yc.mean()
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def keep_colours(content: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """The styled picture's luminance with the content's colours (YIQ's I and Q), (N, 3, H, W).

    Luminance-only transfer: stylise the grey content with
    :func:`match_luminance` of the style, then put the content's chroma
    back; the output keeps every colour of the content picture.
    """
    delta = luminance(styled) - luminance(content)  # adding delta to R, G and B changes only Y
    return (content + delta).clamp(0, 1)
