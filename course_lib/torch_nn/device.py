"""Choose the compute device once; library code receives it as an argument.

Library code never calls ``.cuda()``: a script or notebook calls
:func:`get_device` at the top and passes the result down, so the same code
runs on a laptop CPU, Apple silicon, a Colab GPU or a cluster node.
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "COURSE_DEVICE"


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or ``$COURSE_DEVICE``) forces a choice such as ``"cpu"`` or
    ``"cuda:1"``; asking for a device that is not present raises ``ValueError``
    rather than silently falling back, so a reader who asked for the GPU knows
    they did not get it.
    """
    choice = prefer or os.environ.get(ENV_VAR) or None
    if choice is not None:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} requested but CUDA is not available")
        if device.type == "mps" and not _mps_available():
            raise ValueError(f"device {choice!r} requested but Apple MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device) -> str:
    """One line naming the device, for the top of a notebook or a log."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple silicon GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels to finish, so wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
