"""Hypothesis helpers shared by the convolution and pooling tests."""

from __future__ import annotations

from hypothesis import strategies as st


def int_or_pair(draw, lo: int, hi: int):
    """An int or an (h, w) pair in [lo, hi]: both forms are part of the API."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


def as_pair(v) -> tuple[int, int]:
    """An int or a pair, as a pair."""
    return (v, v) if isinstance(v, int) else v
