"""Shared pytest configuration: hypothesis profiles, the gpu marker, the smoke profile."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Tests run the notebooks and library in the cheapest profile unless told otherwise.
os.environ.setdefault("COURSE_PROFILE", "smoke")

# No deadline: timings on a shared 2-core CI machine are noisy, and speed is
# measured by `make bench`, never by a test.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
