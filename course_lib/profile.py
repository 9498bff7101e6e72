"""The one setting that scales data size and training length: ``COURSE_PROFILE``.

``smoke``   tiny inputs, a few steps: what the tests and nbval run.
``default`` what a reader runs on a laptop or on mybinder.org (1 CPU, 2 GB).
``full``    long runs that reproduce the shipped checkpoints and benchmarks.

Every notebook and script reads the profile through :func:`get_profile` and
scales its work with :func:`pick`, so there is a single place to look.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

Profile = Literal["smoke", "default", "full"]
PROFILES: tuple[Profile, ...] = ("smoke", "default", "full")
ENV_VAR = "COURSE_PROFILE"

T = TypeVar("T")


def get_profile() -> Profile:
    """Return the active profile, read from ``$COURSE_PROFILE`` (``default`` when unset)."""
    value = os.environ.get(ENV_VAR, "default").strip().lower() or "default"
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={value!r} is not a profile; expected one of {', '.join(PROFILES)}"
        )
    return value  # type: ignore[return-value]


def pick(*, smoke: T, default: T, full: T | None = None) -> T:
    """Choose a value by the active profile; ``full`` falls back to ``default``.

    >>> import os; os.environ["COURSE_PROFILE"] = "smoke"
    >>> pick(smoke=2, default=100)
    2
    """
    profile = get_profile()
    if profile == "smoke":
        return smoke
    if profile == "full" and full is not None:
        return full
    return default
