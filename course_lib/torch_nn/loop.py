"""The training loop shared by every model of the course: fit, evaluate, predict.

One :func:`fit` handles what every chapter needs: the device chosen once and
passed in, mixed precision and channels-last on CUDA, an optional
``torch.compile``, periodic checkpoints and exact resume, deterministic
seeding, a step limit, and ``torch.distributed`` data parallelism under
``torchrun``. :mod:`course_lib.torch_nn.train` holds the configuration and the
command line; both re-export these names.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # plain text bar: tqdm.auto warns in notebooks without ipywidgets

from course_lib.torch_nn import device as dev
from course_lib.torch_nn.augment import Augment
from course_lib.torch_nn.checkpoint import load_checkpoint, save_checkpoint, unwrap
from course_lib.torch_nn.datasets import Batches, normalize

if TYPE_CHECKING:
    from course_lib.torch_nn.train import TrainConfig

__all__ = ["History", "evaluate", "fit", "predict", "set_seed"]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy's legacy global RNG and torch (every device); no cuDNN autotuning."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - for third-party code that still draws from it
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.benchmark = False


@dataclass
class History:
    """What happened during :func:`fit`: per optimiser step, then per epoch."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # training minibatch loss
    lr: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)  # 1-based number of the finished epoch
    train_loss: list[float] = field(default_factory=list)  # mean minibatch loss of the epoch
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # training time so far, evaluation excluded
    total_seconds: float = 0.0  # training time of the whole run (resumed runs included)
    images: int = 0  # pictures trained on, over all processes

    def as_dict(self) -> dict[str, list]:
        return asdict(self)


def _to_device(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    model = model.to(device)
    if channels_last and device.type == "cuda":
        # NHWC lets cuDNN use tensor-core convolutions without transposes
        model = model.to(memory_format=torch.channels_last)
    return model


@torch.no_grad()
def predict(
    model: nn.Module,
    images_uint8: torch.Tensor | np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
    """Logits float32 (N, K) of uint8 pictures (N, 28, 28), in eval mode, batch by batch."""
    model = unwrap(model)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    images = torch.as_tensor(images_uint8)
    out = []
    for i in range(0, len(images), batch_size):
        x = normalize(images[i : i + batch_size]).to(device)
        with dev.autocast_context(device):
            out.append(model(x).float().cpu())
    model.train(was_training)
    k = out[0].shape[1] if out else 0
    return torch.cat(out).numpy() if out else np.zeros((0, k), np.float32)


def evaluate(
    model: nn.Module,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Mean cross-entropy and accuracy on a labelled set, in eval mode.

    Returns ``{"loss", "accuracy", "preds" (int64 (N,)), "labels" (int64 (N,))}``.
    """
    logits = torch.from_numpy(predict(model, images, device=device, batch_size=batch_size))
    y = torch.as_tensor(labels).long().cpu()
    loss = nn.functional.cross_entropy(logits, y).item()
    preds = logits.argmax(1)
    return {
        "loss": loss,
        "accuracy": (preds == y).double().mean().item(),
        "preds": preds.numpy(),
        "labels": y.numpy(),
    }


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer must be sgd, adam or adamw, got {cfg.optimizer!r}")


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> Any:
    if cfg.schedule == "onecycle":
        # Smith and Topin (2019): warm up to lr over 25% of the run, then anneal
        # (cosine) to lr / 1e4; the schedule spans all epochs, max_steps only stops early
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(total, 2), pct_start=0.25
        )
    if cfg.schedule == "none":
        return None
    raise ValueError(f"schedule must be onecycle or none, got {cfg.schedule!r}")


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# what must not change between a run and its resumption: the step count and the data order
_RESUME_KEYS = ("model", "model_kwargs", "epochs", "batch_size", "train_limit", "seed", "fake_data")


def _check_resumable(cfg: TrainConfig, saved: dict[str, Any], path: str) -> None:
    mine = cfg.to_dict()
    diff = [f"{k}: {saved.get(k)!r} in the checkpoint, {mine[k]!r} now"
            for k in _RESUME_KEYS if saved.get(k) != mine[k]]
    if diff:
        raise ValueError(f"cannot resume from {path}: the run differs in\n  " + "\n  ".join(diff))


def fit(
    model: nn.Module,
    train_data: tuple[Any, Any],
    *,
    config: TrainConfig,
    eval_data: tuple[Any, Any] | None = None,
    device: torch.device | None = None,
    callback: Callable[[int, nn.Module, float], None] | None = None,
) -> History:
    """Train ``model`` on uint8 pictures ``train_data = (images (N, H, W), labels (N,))``.

    The model is moved to ``device`` (default :func:`~course_lib.torch_nn.device.get_device`)
    and trained in place; the LR schedule spans ``config.epochs`` epochs and
    ``config.max_steps`` stops early. After each epoch (if ``eval_data`` and
    ``config.eval_every_epoch``) the model is evaluated there.
    ``callback(step, model, loss)`` runs after every optimiser step.

    With ``config.checkpoint_dir`` a checkpoint ``last.pt`` is written every
    ``config.checkpoint_every`` steps and at the end; ``config.resume`` (a
    checkpoint path) restores model, optimiser, scheduler, step, RNG states
    and history, and the run continues exactly as if it had not stopped.

    Under ``torchrun`` the process group is joined (gloo on CPU, nccl on CUDA),
    the model wrapped in DistributedDataParallel, each process trains on its
    own shard of every epoch with ``config.batch_size`` pictures per process,
    and only rank 0 evaluates, saves and shows progress.
    """
    cfg = config
    device, created_group = dev.init_distributed(device)
    rank, world = dev.rank_and_world()
    try:
        return _fit(model, train_data, cfg, eval_data, device, callback, rank, world)
    finally:
        if created_group:
            torch.distributed.destroy_process_group()


def _fit(model, train_data, cfg, eval_data, device, callback, rank, world) -> History:  # noqa: C901
    cuda = device.type == "cuda"
    model = _to_device(model, device, cfg.channels_last)
    batches = Batches(
        *train_data, batch_size=cfg.batch_size, shuffle=True, device=device,
        augment=Augment(**cfg.augment_kwargs) if cfg.augment else None,
        seed=cfg.seed, drop_last=True, rank=rank, world_size=world,
    )
    steps_per_epoch = len(batches)
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    opt = _make_optimizer(model, cfg)
    sched = _make_scheduler(opt, cfg, cfg.epochs * steps_per_epoch)
    use_amp = cfg.amp and cuda
    scaler = torch.amp.GradScaler("cuda") if dev.needs_grad_scaler(device, use_amp) else None
    weight = None
    if cfg.class_weights is not None:
        weight = torch.tensor(cfg.class_weights, dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)

    history, step, elapsed = History(), 0, 0.0
    if cfg.resume:
        state = load_checkpoint(cfg.resume, model=model, optimizer=opt, scheduler=sched,
                                map_location=device)
        _check_resumable(cfg, state["config"], cfg.resume)
        step = state["step"]
        extra = state.get("extra", {})
        if "rng" in extra:
            _set_rng_state({k: v for k, v in extra["rng"].items()})
        if scaler is not None and "scaler" in extra:
            scaler.load_state_dict(extra["scaler"])
        history = History(**extra.get("history", {}))
        elapsed = float(extra.get("elapsed", 0.0))

    net: nn.Module = model
    if world > 1:
        ids = [device.index] if cuda else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.compile:
        net = torch.compile(net)

    main_rank = rank == 0
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None

    def due(step: int) -> bool:
        return bool(cfg.checkpoint_every) and step % cfg.checkpoint_every == 0

    def checkpoint(name: str, epoch: int) -> None:
        if ckpt_dir is None or not main_rank:
            return
        extra = {"rng": _rng_state(), "history": history.as_dict(), "elapsed": elapsed}
        if scaler is not None:
            extra["scaler"] = scaler.state_dict()
        metrics = {}
        if history.test_accuracy:
            metrics = {"test_accuracy": history.test_accuracy[-1],
                       "test_loss": history.test_loss[-1]}
        save_checkpoint(ckpt_dir / name, model=model, optimizer=opt, scheduler=sched, step=step,
                        epoch=epoch, config=cfg.to_dict(), metrics=metrics, extra=extra)

    bar = tqdm(total=total, initial=step, disable=None if (cfg.progress and main_rank) else True,
               desc=f"training {type(model).__name__}", unit="step", dynamic_ncols=True)
    epoch = step // steps_per_epoch
    while step < total:
        batches.set_epoch(epoch)
        net.train()
        start_batch = step - epoch * steps_per_epoch
        tic = time.perf_counter()
        for x, y in batches.iter_from(start_batch):
            if cfg.channels_last and cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with dev.autocast_context(device, use_amp):
                loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            history.lr.append(opt.param_groups[0]["lr"])
            if sched is not None:
                sched.step()
            step += 1
            value = loss.item()
            history.step.append(step)
            history.loss.append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            if callback is not None:
                callback(step, model, value)
            if step >= total:
                break
            if due(step) and step < (epoch + 1) * steps_per_epoch:
                elapsed += time.perf_counter() - tic
                checkpoint("last.pt", epoch)  # mid-epoch; at an epoch's end, after evaluating
                tic = time.perf_counter()
        if cuda:
            dev.synchronize(device)
        elapsed += time.perf_counter() - tic
        finished = step == (epoch + 1) * steps_per_epoch
        if finished:
            epoch += 1
            history.epoch.append(epoch)
            # from the history, so that an epoch resumed half-way has the same mean
            history.train_loss.append(float(np.mean(history.loss[-steps_per_epoch:])))
            history.seconds.append(elapsed)
            if eval_data is not None and cfg.eval_every_epoch and main_rank:
                res = evaluate(model, *eval_data, device=device)
                history.test_loss.append(res["loss"])
                history.test_accuracy.append(res["accuracy"])
                bar.write(f"epoch {epoch}: train loss {history.train_loss[-1]:.4f}, "
                          f"test loss {res['loss']:.4f}, test accuracy {res['accuracy']:.4f}, "
                          f"{elapsed:.0f} s")
            if due(step) and step < total:
                checkpoint("last.pt", epoch)
    bar.close()
    history.total_seconds = elapsed
    history.images = step * cfg.batch_size * world
    checkpoint("last.pt", epoch)
    model.eval()
    return history
