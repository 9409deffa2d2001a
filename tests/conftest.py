"""Shared fixtures: the shipped offline matching pipeline, the in-process web app, one torch thread and
registering test models. Tiny random-weight model configs live in tests/tiny_models.py."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# `from tiny_models import ...` and `from conftest import ...` work under any --import-mode.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def tiny_pipe():
    """The shipped offline tiny CLIP, loaded once per test session."""
    import mmbench

    return mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module: its models are small, and one thread is as fast as two and many
    times faster on a busy machine. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def registered():
    """register(spec) for the test's duration."""
    from mmbench.registry import register, unregister

    names: list[str] = []

    def add(spec):
        names.append(spec.name)
        return register(spec)

    yield add
    for name in names:
        unregister(name)


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


#: Debian's chromium (Playwright cannot download its own browsers here) and its headless flags.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: ``pytestmark = E2E`` in a browser test file: marked ``e2e``, skipped with a reason without chromium.
E2E = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    """A headless chromium (Playwright, Debian's executable) for one test file. Module scope, not
    session: Playwright's sync API keeps an asyncio loop running in this thread while it is open,
    and later tests that call ``asyncio.run`` (tests/test_serve.py) would fail under it."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
