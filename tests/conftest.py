"""Shared fixtures: the shipped offline matching pipeline and small held-out procedural sets."""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_pipe():
    """The shipped offline tiny CLIP, loaded once per test session."""
    import mmbench

    return mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    """The web app served in-process, offline tier forced so every machine sees the same model."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMBENCH_OFFLINE", "1")
        from mmbench.ui.app import build_app

        demo = build_app()
        port = free_port()
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()
