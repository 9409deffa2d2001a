"""Shared fixtures: the shipped offline matching pipeline and small held-out procedural sets."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_pipe():
    """The shipped offline tiny CLIP, loaded once per test session."""
    import mmbench

    return mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")
