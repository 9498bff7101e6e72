"""Choose the compute device once; library code receives it as an argument.

Library code never calls ``.cuda()``: a script or notebook calls
:func:`get_device` at the top and passes the result down, so the same code
runs on a laptop CPU, Apple silicon, a Colab GPU or a cluster node.
"""

from __future__ import annotations

import contextlib
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


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype used on ``device``: bfloat16 where the GPU has it, else float16.

    None on CPU and MPS: the course trains there in float32 (CPU autocast is
    slower than float32 for these small convolutions).
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast_context(device: torch.device, enabled: bool = True):
    """``torch.autocast`` on CUDA (see :func:`amp_dtype`), a no-op context elsewhere."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def needs_grad_scaler(device: torch.device, enabled: bool = True) -> bool:
    """float16 autocast needs loss scaling (its range underflows small gradients); bf16 does not."""
    return enabled and amp_dtype(device) == torch.float16


# ---------------------------------------------------------------------------
# torch.distributed, as launched by torchrun (which sets RANK, WORLD_SIZE, LOCAL_RANK)
# ---------------------------------------------------------------------------


def launched_distributed() -> bool:
    """True when this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialised."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside a distributed run."""
    if is_distributed():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed(device: torch.device | None = None) -> tuple[torch.device, bool]:
    """Join the process group torchrun set up, if any; return (device, whether we created it).

    The backend is nccl when this process drives a CUDA GPU (each process takes
    ``cuda:LOCAL_RANK``) and gloo otherwise. Outside torchrun, or when a group
    already exists, nothing is created. The caller that created the group
    destroys it (``torch.distributed.destroy_process_group()``).
    """
    device = device or get_device()
    if not launched_distributed() or is_distributed():
        return device, False
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    torch.distributed.init_process_group(backend=backend)
    return device, True
