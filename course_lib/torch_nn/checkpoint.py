"""Saving, loading and verifying training checkpoints.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and
dicts, so that ``torch.load(..., weights_only=True)`` can read it: that loader
refuses to run the arbitrary code a pickled object may carry, which matters
for files downloaded from elsewhere. Keys::

    format      1
    model       the model's state_dict (tensors)
    optimizer   the optimiser's state_dict, or absent
    scheduler   the LR scheduler's state_dict, or absent
    optimizers  instead of optimizer, for a run with several (a GAN's two players):
    schedulers  {name: state_dict}
    step, epoch optimiser steps and whole epochs done
    config      the training configuration (plain types), enough to rebuild the model
    metrics     what the model reached, e.g. {"test_accuracy": 0.93}
    extra       anything else the trainer needs to resume (RNG states, history)

Files are written to a temporary name and renamed, so an interrupted save
never leaves half a checkpoint under the real name.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib import registry

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "load_pretrained",
    "save_checkpoint",
    "unwrap",
]

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, of another model, or not the registered one."""


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel and/or torch.compile wrapper."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module  # DistributedDataParallel
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile's OptimizedModule
        else:
            return model


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | dict[str, torch.optim.Optimizer] | None = None,
    scheduler: Any | None = None,
    step: int,
    epoch: int,
    config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically; return its path (parent folders are created).

    ``optimizer`` and ``scheduler`` may each be one object (stored under
    ``optimizer``/``scheduler``) or a dict of them by name (``optimizers``/``schedulers``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "format": FORMAT,
        "model": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
        "step": int(step),
        "epoch": int(epoch),
        "config": dict(config),
        "metrics": dict(metrics or {}),
    }
    for key, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if isinstance(obj, dict):
            state[key + "s"] = {name: o.state_dict() for name, o in obj.items()}
        elif obj is not None:
            state[key] = obj.state_dict()
    if extra:
        state["extra"] = extra
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read(path: Path, map_location: Any) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0]}\n"
            "The file is corrupt or truncated, or not a torch checkpoint (or it holds "
            "objects other than tensors and plain Python values, which weights_only refuses)."
        ) from err
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a course checkpoint: expected a dict with 'model' and 'config', "
            f"got {keys}"
        )
    return state


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | dict[str, torch.optim.Optimizer] | None = None,
    scheduler: Any | None = None,
    map_location: Any = "cpu",
    sha256: str | None = None,
) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; load it into the objects given.

    ``optimizer``/``scheduler``: one object, or a dict by name as saved by
    :func:`save_checkpoint`.

    Args:
        sha256: when given, the file's digest must equal it (checked before loading).

    Returns:
        The checkpoint dictionary (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: corrupt or truncated file, wrong digest, or parameters
            that do not fit ``model`` (another architecture or size); the message
            names the file and what was expected.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if sha256 is not None:
        try:
            registry.verify_file(path, {"sha256": sha256})
        except registry.ChecksumError as err:
            raise CheckpointError(str(err)) from err
    state = _read(path, map_location)
    if model is not None:
        target = unwrap(model)
        try:
            target.load_state_dict(state["model"])
        except RuntimeError as err:
            cfg = state.get("config", {})
            raise CheckpointError(
                f"checkpoint {path} does not fit {type(target).__name__}: it was saved from "
                f"model {cfg.get('model', '?')!r} with {cfg.get('model_kwargs', {})}.\n"
                + str(err).strip()
            ) from err
    for key, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if not isinstance(obj, dict):
            if key not in state:
                raise CheckpointError(f"checkpoint {path} has no {key} state to resume from")
            obj.load_state_dict(state[key])
            continue
        saved = state.get(key + "s", {})
        if set(saved) != set(obj):
            raise CheckpointError(
                f"checkpoint {path} has {key} states for {sorted(saved)}, expected {sorted(obj)}"
            )
        for name, o in obj.items():
            o.load_state_dict(saved[name])
    return state


def model_from_checkpoint(state: dict[str, Any]) -> nn.Module:
    """Rebuild the model a checkpoint's config describes and load its weights."""
    from course_lib.torch_nn.zoo import build_model

    cfg = state["config"]
    model = build_model(cfg["model"], **cfg.get("model_kwargs", {}))
    model.load_state_dict(state["model"])
    return model


def load_pretrained(
    name: str = "cnn", *, device: torch.device | None = None, directory: str | Path | None = None
) -> nn.Module:
    """The shipped checkpoint ``name``, verified against the asset registry, in eval mode.

    The file's SHA-256 and size must match ``course_lib/assets/registry.toml``
    (a mismatch raises :class:`CheckpointError` naming both digests); the model
    is rebuilt from the configuration stored in the file. ``directory``
    overrides ``course_lib/assets/checkpoints`` (for tests).
    """
    try:
        path = registry.verify_checkpoint(name, directory=directory)
    except registry.ChecksumError as err:
        raise CheckpointError(f"shipped checkpoint {name!r}: {err}") from err
    state = _read(path, "cpu")
    try:
        model = model_from_checkpoint(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint {path} does not rebuild its model: {err}") from err
    return model.to(device or torch.device("cpu")).eval()
