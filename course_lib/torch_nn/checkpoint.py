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
never leaves half a checkpoint under the real name. Next to each file,
``NAME.sha256`` records its SHA-256 (the format of ``sha256sum``), and
:func:`load_checkpoint` checks it by default: a file changed after it was
saved, or one with no recorded digest, is refused unless ``verify=False``;
the shipped checkpoints are verified against the asset registry instead.
Every failure to read, parse, verify or rebuild a checkpoint raises
:class:`CheckpointError`, naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib import registry

__all__ = [
    "CheckpointError",
    "digest_path",
    "load_checkpoint",
    "load_model",
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
    _atomic_write(path, lambda f: torch.save(state, f))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _atomic_write(digest_path(path), lambda f: f.write(f"{digest}  {path.name}\n".encode()))
    return path


def digest_path(path: str | os.PathLike) -> Path:
    """Where the SHA-256 of the checkpoint ``path`` is recorded: ``path`` + ``.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _recorded_digest(path: Path) -> str | None:
    """The digest recorded for ``path``: its ``.sha256`` file's, or the registry's if shipped."""
    side = digest_path(path)
    if side.exists():
        first = side.read_text(encoding="utf-8", errors="replace").split()
        if not first or len(first[0]) != 64:
            raise CheckpointError(f"{side} does not hold a SHA-256 digest")
        return first[0].lower()
    for entry in registry.load_registry().get("checkpoints", {}).values():
        shipped = Path(registry.CHECKPOINT_DIR) / entry["path"]
        if shipped.exists() and shipped.resolve() == path.resolve():
            return entry["sha256"]
    return None


def _check_structure(state: Any, path: Path) -> None:
    """A course checkpoint's keys have the types the loaders rely on."""
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        keys = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a course checkpoint: expected a dict with 'model' and 'config', "
            f"got {keys}"
        )
    model = state["model"]
    if not isinstance(model, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise CheckpointError(f"checkpoint {path}: 'model' must be a state dict "
                              f"{{name: tensor}}, got {type(model).__name__}")
    cfg = state["config"]
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_kwargs", {}), dict):
        raise CheckpointError(f"checkpoint {path}: 'config' must be a dict whose "
                              f"'model_kwargs' is a dict, got {cfg!r:.200}")
    for key in ("optimizer", "scheduler", "optimizers", "schedulers", "metrics", "extra"):
        if key in state and not isinstance(state[key], dict):
            raise CheckpointError(f"checkpoint {path}: {key!r} must be a dict, got "
                                  f"{type(state[key]).__name__}")
    for key in ("step", "epoch"):
        if key in state and (isinstance(state[key], bool) or not isinstance(state[key], int)):
            raise CheckpointError(f"checkpoint {path}: {key!r} must be an int, got "
                                  f"{state[key]!r:.50}")


def _read(path: Path, map_location: Any) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged file fails in many ways inside torch.load
        first = (str(err).splitlines() or [""])[0]
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {first}\n"
            "The file is corrupt or truncated, or not a torch checkpoint (or it holds "
            "objects other than tensors and plain Python values, which weights_only refuses)."
        ) from err
    _check_structure(state, path)
    return state


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | dict[str, torch.optim.Optimizer] | None = None,
    scheduler: Any | None = None,
    map_location: Any = "cpu",
    sha256: str | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; verify it; load it into the objects given.

    ``optimizer``/``scheduler``: one object, or a dict by name as saved by
    :func:`save_checkpoint`.

    Args:
        sha256: when given, the file's digest must equal it (checked before loading).
        verify: otherwise, the digest recorded when it was saved (``NAME.sha256``,
            or the registry's for a shipped checkpoint) must exist and match;
            ``verify=False`` loads a file nobody recorded, at your own risk.

    Returns:
        The checkpoint dictionary (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: corrupt, truncated or changed file, no recorded digest,
            keys of the wrong type, or states that do not fit ``model`` or the
            optimisers (another architecture or size); the message names the
            file and what was expected.
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
    if sha256 is None and verify:
        recorded = _recorded_digest(path)
        if recorded is None:
            raise CheckpointError(
                f"checkpoint {path} has no recorded digest (no {digest_path(path).name} next to "
                "it, and it is not a shipped checkpoint), so it cannot be verified; load it "
                "with verify=False if you trust where it came from")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != recorded:
            raise CheckpointError(
                f"checkpoint {path} is corrupt or truncated, or was changed after it was saved: "
                f"its SHA-256 is {actual}, {recorded} was recorded")
    if model is not None:
        target = unwrap(model)
        try:
            target.load_state_dict(state["model"])
        except (RuntimeError, TypeError, KeyError, ValueError) as err:
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
            _load_state(o=obj, saved=state[key], what=key, path=path)
            continue
        saved = state.get(key + "s", {})
        if set(saved) != set(obj):
            raise CheckpointError(
                f"checkpoint {path} has {key} states for {sorted(saved)}, expected {sorted(obj)}"
            )
        for name, o in obj.items():
            _load_state(o=o, saved=saved[name], what=f"{key} {name!r}", path=path)
    return state


def _load_state(*, o: Any, saved: Any, what: str, path: Path) -> None:
    try:
        o.load_state_dict(saved)
    except (RuntimeError, TypeError, KeyError, ValueError, IndexError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {path}: the {what} state does not fit "
                              f"{type(o).__name__}: {type(err).__name__}: {err}") from err


def load_model(path: str | os.PathLike, *, device: torch.device | None = None,
               verify: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, state)``: a checkpoint read and verified as :func:`load_checkpoint` does,
    its model rebuilt from the stored config, in eval mode on ``device``."""
    state = load_checkpoint(path, verify=verify)
    try:
        model = model_from_checkpoint(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint {path} does not rebuild its model: "
                              f"{type(err).__name__}: {err}") from err
    return model.to(device or torch.device("cpu")).eval(), state


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
