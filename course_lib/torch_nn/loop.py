"""The one training loop of the course: every PyTorch model is trained by :func:`fit`.

What differs between model kinds, one network and a cross-entropy, or two
networks playing a game, is *one training step*: a task supplies it as a
:class:`TrainStep`, built by its configuration (a :class:`RunConfig`
subclass that lives beside the model). The loop does the rest, the same way
for every task: the device chosen once and passed in, mixed precision and
channels-last on CUDA, an optional ``torch.compile``, deterministic seeding,
a step limit, a progress bar, evaluation on a validation split after each
epoch, periodic checkpoints with *exact* resume, and ``torch.distributed``
data parallelism under ``torchrun``.

Tasks of the course: the classifier (:mod:`course_lib.torch_nn.classifier`)
and the GANs (:mod:`course_lib.torch_nn.gan_training`).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # plain text bar: tqdm.auto warns in notebooks without ipywidgets

from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import load_checkpoint, save_checkpoint
from course_lib.torch_nn.datasets import Batches

__all__ = ["EarlyStoppingStep", "History", "KeepBest", "RunConfig", "StepContext", "TrainStep",
           "TrainingDiverged", "fit", "set_seed"]


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the last checkpoint written before is kept."""


def set_seed(seed: int) -> None:
    """Seed Python, NumPy's legacy global RNG and torch (every device); no cuDNN autotuning."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - for third-party code that still draws from it
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.benchmark = False


@dataclass
class RunConfig:
    """What every training run has, whatever it trains; tasks subclass it with their settings.

    A subclass names the :class:`TrainStep` it builds (:meth:`build_step`) and
    the batches it wants (:meth:`batch_options`); it is stored, as plain
    types, in every checkpoint.
    """

    model: str = "fashion"  # name for course_lib.torch_nn.zoo.build_model
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 1
    max_steps: int | None = None  # stop after N training steps (the LR schedule is unchanged)
    batch_size: int = 128  # per process
    train_limit: int | None = None  # train on the first N pictures
    test_limit: int | None = None  # evaluate on the first N test pictures
    val_size: int | None = None  # pictures carved off the training set for validation
    fake_data: bool = False
    seed: int = 0
    amp: bool = True  # autocast (bf16, or fp16 with a GradScaler); only on CUDA
    channels_last: bool = True  # only on CUDA
    compile: bool = False  # torch.compile the networks
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500  # steps
    resume: str | None = None
    eval_every_epoch: bool = True
    progress: bool = True

    # what must not change between a run and its resumption: the step count and the data order
    RESUME_KEYS: ClassVar[tuple[str, ...]] = (
        "model", "model_kwargs", "epochs", "batch_size", "train_limit", "seed", "fake_data",
    )

    def build_step(self, model: nn.Module, steps_per_epoch: int) -> TrainStep:
        """The task's training step for ``model`` (already on its device)."""
        raise NotImplementedError(f"{type(self).__name__} does not define a training step")

    def batch_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~.datasets.Batches`: augment, transform."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict/list/str/number values, as ``torch.load(weights_only=True)`` reads them."""
        out = dataclasses.asdict(self)
        out["model_kwargs"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.model_kwargs.items()
        }
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in fields}
        for k, v in kwargs.items():  # tuples were stored as lists
            if isinstance(v, list) and "tuple" in str(fields[k].type):
                kwargs[k] = tuple(v)
        return cls(**kwargs)


@dataclass
class History:
    """What happened during :func:`fit`: per training step, then per epoch.

    ``loss`` is the step's main loss (the first value the step returns);
    ``values`` holds every value it returns, by name (for a GAN: ``d_loss``,
    ``g_loss``, ``d_real``, ``d_fake``). ``evals`` holds what the task's
    evaluation returned after each epoch, by name; the classifier's ``loss``
    and ``accuracy`` are also kept in ``test_loss`` and ``test_accuracy``.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # training minibatch loss
    lr: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)  # 1-based number of the finished epoch
    train_loss: list[float] = field(default_factory=list)  # mean minibatch loss of the epoch
    test_loss: list[float] = field(default_factory=list)  # the evaluation split's (validation)
    test_accuracy: list[float] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)  # training time so far, evaluation excluded
    summary: dict[str, Any] = field(default_factory=dict)  # what the step's finish() returned
    total_seconds: float = 0.0  # training time of the whole run (resumed runs included)
    images: int = 0  # pictures trained on, over all processes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepContext:
    """What a :class:`TrainStep` needs from the loop: the device, autocast and loss scaling."""

    device: torch.device
    amp: bool = False
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> AbstractContextManager:
        """``torch.autocast`` on CUDA when mixed precision is on, a no-op context elsewhere."""
        return dev.autocast_context(self.device, self.amp)

    def minimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """One optimiser step on ``loss``: clear the gradients, back-propagate, update.

        With float16 autocast the loss is scaled first (one scaler for all the
        step's optimisers, updated once per step by the loop, as the AMP notes
        on several optimisers prescribe).
        """
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
        else:
            loss.backward()
            optimizer.step()


class TrainStep:
    """One training step of a task; :func:`fit` calls it once per batch.

    A subclass sets, in its constructor:

    * ``model``: the module that is trained and checkpointed (for a GAN, one
      module holding both players),
    * ``optimizers`` and ``schedulers``: dicts by name; schedulers are stepped
      by the loop after each training step,

    and defines :meth:`__call__` (the step itself) and, if it evaluates,
    :meth:`evaluate`. :meth:`wrap` lets the loop put the networks that run
    forward passes inside DistributedDataParallel or ``torch.compile``. A step
    that keeps state of its own across epochs (the best model so far, for
    early stopping) returns it from :meth:`state_dict`, so that checkpoints
    hold it and a resumed run is exact; :meth:`should_stop` ends the run early
    and :meth:`finish` runs once at the end.
    """

    model: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap the networks the step calls (DDP, compile); here ``self.model`` as ``self.net``."""
        self.net = wrapper(self.model)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        """Train on one batch; return detached scalars by name, the main loss first."""
        raise NotImplementedError

    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        """Metrics on the evaluation (validation) split after an epoch; {} if none."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def should_stop(self, history: History) -> bool:
        """After an epoch's evaluation: stop training now (early stopping)?"""
        return False

    def finish(self) -> dict[str, Any]:
        """At the end of training (e.g. restore the best model); returns the run's summary."""
        return {}

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in res.items())
        return f"epoch {epoch}: train loss {train_loss:.4f}" + (f", {shown}" if shown else "")

    def first_lr(self) -> float:
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]


class KeepBest:
    """The best model so far by a validation figure (lower is better), for steps that stop early.

    After each epoch's evaluation a step calls :meth:`update` with the figure
    and the module whose weights count (the classifier, the VAE, a GAN's
    generator); :meth:`patience_over` says whether ``patience`` epochs have
    passed without a better one; :meth:`restore` puts the best weights back at
    the end and names them. Its :meth:`state_dict` goes into every checkpoint
    (through the step's), so a resumed run keeps the same best model.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric  # its name, for the summary: val_<metric>
        self.value, self.epoch, self.state = float("inf"), 0, None
        self.epochs_done = 0

    def update(self, value: float, module: nn.Module) -> None:
        self.epochs_done += 1
        if value < self.value:
            self.value, self.epoch = value, self.epochs_done
            self.state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    def patience_over(self, patience: int | None) -> bool:
        return patience is not None and self.epochs_done - self.epoch >= patience

    def restore(self, module: nn.Module) -> dict[str, Any]:
        """Load the best weights into ``module``: ``{best_epoch, val_<metric>}``, {} if none."""
        if self.state is None:
            return {}
        module.load_state_dict(self.state)
        return {"best_epoch": self.epoch, f"val_{self.metric}": self.value}

    def state_dict(self) -> dict[str, Any]:
        return {"best": {self.metric: self.value, "epoch": self.epoch, "state": self.state},
                "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state["best"]
        self.value, self.epoch, self.state = best[self.metric], best["epoch"], best["state"]
        self.epochs_done = state["epochs_done"]



class EarlyStoppingStep(TrainStep):
    """A step that keeps its best model in ``self.keep`` and stops after ``cfg.patience`` epochs.

    Subclasses set ``self.keep = KeepBest(metric)`` and ``self.cfg`` (with a
    ``patience``), and call ``self.keep.update`` in :meth:`evaluate`; the
    keeper's state travels in every checkpoint, so a resumed run keeps its best.
    """

    keep: KeepBest
    cfg: Any

    def should_stop(self, history: History) -> bool:
        return self.keep.patience_over(self.cfg.patience)

    def state_dict(self) -> dict[str, Any]:
        return self.keep.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.keep.load_state_dict(state)

def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_resumable(cfg: RunConfig, saved: dict[str, Any], path: str) -> None:
    mine = cfg.to_dict()
    diff = [f"{k}: {saved.get(k)!r} in the checkpoint, {mine[k]!r} now"
            for k in cfg.RESUME_KEYS if saved.get(k) != mine[k]]
    if diff:
        raise ValueError(f"cannot resume from {path}: the run differs in\n  " + "\n  ".join(diff))


def _one_or_many(named: dict[str, Any]) -> Any:
    """A single optimiser/scheduler as itself (the checkpoint's classic keys), several as a dict."""
    if not named:
        return None
    return next(iter(named.values())) if len(named) == 1 else named


def fit(
    model: nn.Module,
    train_data: tuple[Any, Any],
    *,
    config: RunConfig,
    eval_data: Any = None,
    device: torch.device | None = None,
    callback: Callable[[int, nn.Module, float], None] | None = None,
) -> History:
    """Train ``model`` on uint8 pictures ``train_data = (images (N, H, W), labels (N,))``.

    ``config.build_step(model, steps_per_epoch)`` supplies the training step
    (the classifier's :class:`~course_lib.torch_nn.classifier.TrainConfig`, a
    GAN's :class:`~course_lib.torch_nn.gan_training.GANConfig`, ...). The model
    is moved to ``device`` (default :func:`~course_lib.torch_nn.device.get_device`)
    and trained in place; the LR schedule spans ``config.epochs`` epochs and
    ``config.max_steps`` stops early. After each epoch (if ``eval_data`` and
    ``config.eval_every_epoch``) the step's ``evaluate`` runs on ``eval_data``,
    which should be a validation split carved from the training set
    (:func:`~course_lib.torch_nn.datasets.train_val_split`), not the test set.
    ``callback(step, model, loss)`` runs after every training step.

    With ``config.checkpoint_dir`` a checkpoint ``last.pt`` is written every
    ``config.checkpoint_every`` steps and at the end; ``config.resume`` (a
    checkpoint path) restores the model, optimisers, schedulers, step, RNG
    states and history, and the run continues exactly as if it had not stopped.

    Under ``torchrun`` the process group is joined (gloo on CPU, nccl on CUDA),
    the networks wrapped in DistributedDataParallel, each process trains on its
    own shard of every epoch with ``config.batch_size`` pictures per process,
    and only rank 0 evaluates, saves and shows progress.
    """
    device, created_group = dev.init_distributed(device)
    rank, world = dev.rank_and_world()
    try:
        return _Run(model, train_data, config, eval_data, device, callback, rank, world).run()
    finally:
        if created_group:
            torch.distributed.destroy_process_group()


class _Run:
    """The state of one call of :func:`fit`, so that its parts can be read one at a time."""

    def __init__(self, model, train_data, cfg, eval_data, device, callback, rank, world) -> None:
        self.cfg, self.eval_data, self.device, self.callback = cfg, eval_data, device, callback
        self.rank, self.world, self.main_rank = rank, world, rank == 0
        self.cuda = device.type == "cuda"
        model = model.to(device)
        if cfg.channels_last and self.cuda:
            # NHWC lets cuDNN use tensor-core convolutions without transposes
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.batches = Batches(
            *train_data, batch_size=cfg.batch_size, shuffle=True, device=device, seed=cfg.seed,
            drop_last=True, rank=rank, world_size=world, **cfg.batch_options(),
        )
        self.steps_per_epoch = len(self.batches)
        self.total = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            self.total = min(self.total, cfg.max_steps)
        self.step_fn = cfg.build_step(model, self.steps_per_epoch)
        use_amp = cfg.amp and self.cuda
        scaler = torch.amp.GradScaler("cuda") if dev.needs_grad_scaler(device, use_amp) else None
        self.ctx = StepContext(device=device, amp=use_amp, scaler=scaler)
        self.history, self.step, self.elapsed = History(), 0, 0.0
        if cfg.resume:
            self._resume(cfg.resume)
        self.step_fn.wrap(self._wrapper)
        self.ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None

    def _wrapper(self, net: nn.Module) -> nn.Module:
        if self.world > 1:
            ids = [self.device.index] if self.cuda else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        if self.cfg.compile:
            net = torch.compile(net)
        return net

    def _resume(self, path: str) -> None:
        s = self.step_fn
        state = load_checkpoint(path, model=self.model, optimizer=_one_or_many(s.optimizers),
                                scheduler=_one_or_many(s.schedulers), map_location=self.device)
        _check_resumable(self.cfg, state["config"], path)
        self.step = state["step"]
        extra = state.get("extra", {})
        if "rng" in extra:
            _set_rng_state(extra["rng"])
        if self.ctx.scaler is not None and "scaler" in extra:
            self.ctx.scaler.load_state_dict(extra["scaler"])
        self.history = History(**extra.get("history", {}))
        self.step_fn.load_state_dict(extra.get("step_state", {}))
        self.elapsed = float(extra.get("elapsed", 0.0))

    def checkpoint(self, epoch: int) -> None:
        if self.ckpt_dir is None or not self.main_rank:
            return
        h = self.history
        extra = {"rng": _rng_state(), "history": h.as_dict(), "elapsed": self.elapsed}
        if step_state := self.step_fn.state_dict():
            extra["step_state"] = step_state
        if self.ctx.scaler is not None:
            extra["scaler"] = self.ctx.scaler.state_dict()
        metrics = {k: v[-1] for k, v in h.evals.items() if v}
        if h.test_accuracy:
            metrics.update(test_accuracy=h.test_accuracy[-1], test_loss=h.test_loss[-1])
        s = self.step_fn
        save_checkpoint(self.ckpt_dir / "last.pt", model=self.model,
                        optimizer=_one_or_many(s.optimizers), scheduler=_one_or_many(s.schedulers),
                        step=self.step, epoch=epoch, config=self.cfg.to_dict(), metrics=metrics,
                        extra=extra)

    def due(self, step: int) -> bool:
        return bool(self.cfg.checkpoint_every) and step % self.cfg.checkpoint_every == 0

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.batches.set_epoch(epoch)
        for x, y in self.batches.iter_from(self.step - epoch * self.steps_per_epoch):
            if self.cfg.channels_last and self.cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def _record(self, values: dict[str, Any], lr: float) -> float:
        h = self.history
        floats = {k: float(v) for k, v in values.items()}  # .item(): one sync per step
        main = next(iter(floats.values()))
        if not math.isfinite(main):  # stop before anything is saved from this step on
            kept = (f"; the last checkpoint, {self.ckpt_dir / 'last.pt'}, is from before it"
                    if self.ckpt_dir is not None and (self.ckpt_dir / "last.pt").exists() else "")
            raise TrainingDiverged(
                f"the training loss became {main} at step {self.step} (try a lower learning "
                f"rate){kept}")
        h.lr.append(lr)
        h.step.append(self.step)
        h.loss.append(main)
        for k, v in floats.items():
            h.values.setdefault(k, []).append(v)
        return main

    def _end_of_epoch(self, epoch: int, bar: tqdm) -> None:
        h = self.history
        h.epoch.append(epoch)
        # from the history, so that an epoch resumed half-way has the same mean
        h.train_loss.append(float(np.mean(h.loss[-self.steps_per_epoch:])))
        h.seconds.append(self.elapsed)
        if self.eval_data is None or not self.cfg.eval_every_epoch or not self.main_rank:
            return
        res = self.step_fn.evaluate(self.eval_data, self.device)
        for k, v in res.items():
            h.evals.setdefault(k, []).append(float(v))
        if "accuracy" in res:
            h.test_loss.append(res["loss"])
            h.test_accuracy.append(res["accuracy"])
        bar.write(self.step_fn.epoch_message(epoch, h.train_loss[-1], res)
                  + f", {self.elapsed:.0f} s")

    def _stop_early(self) -> bool:
        # only rank 0 evaluates, so it decides and tells the others (or they would wait forever)
        stop = self.main_rank and self.step_fn.should_stop(self.history)
        if self.world > 1:
            flag = torch.tensor([int(stop)], device=self.device if self.cuda else "cpu")
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        return stop

    def run(self) -> History:
        cfg, spe = self.cfg, self.steps_per_epoch
        bar = tqdm(total=self.total, initial=self.step,
                   disable=None if (cfg.progress and self.main_rank) else True,
                   desc=f"training {type(self.model).__name__}", unit="step", dynamic_ncols=True)
        epoch = self.step // spe
        while self.step < self.total:
            self.step_fn.model.train()
            tic = time.perf_counter()
            for x, y in self._batches(epoch):
                lr = self.step_fn.first_lr()
                values = self.step_fn(x, y, self.ctx)
                if self.ctx.scaler is not None:
                    self.ctx.scaler.update()
                for sched in self.step_fn.schedulers.values():
                    sched.step()
                self.step += 1
                main = self._record(values, lr)
                bar.update(1)
                bar.set_postfix(loss=f"{main:.3f}", refresh=False)
                if self.callback is not None:
                    self.callback(self.step, self.model, main)
                if self.step >= self.total:
                    break
                if self.due(self.step) and self.step < (epoch + 1) * spe:
                    self.elapsed += time.perf_counter() - tic
                    self.checkpoint(epoch)  # mid-epoch; at an epoch's end, after evaluating
                    tic = time.perf_counter()
            if self.cuda:
                dev.synchronize(self.device)
            self.elapsed += time.perf_counter() - tic
            if self.step == (epoch + 1) * spe:
                epoch += 1
                self._end_of_epoch(epoch, bar)
                if self._stop_early():
                    bar.write(f"stopping early after epoch {epoch}")
                    self.total = self.step
                if self.due(self.step) and self.step < self.total:
                    self.checkpoint(epoch)
        bar.close()
        self.history.total_seconds = self.elapsed
        self.history.images = self.step * cfg.batch_size * self.world
        self.checkpoint(epoch)
        self.history.summary = self.step_fn.finish()
        self.model.eval()
        return self.history
