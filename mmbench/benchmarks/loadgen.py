"""Load generation on loopback for the serving benchmark: a lean keep-alive HTTP/1.1 client, bounded
closed-loop load from concurrent clients, latency percentiles, and ``mmbench serve`` started as a
separate process on a free port (the client is never the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def percentiles(ms: list[float]) -> dict[str, float]:
    """p50/p95/p99 (and mean) of latencies in milliseconds."""
    import numpy as np

    if not ms:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "mean_ms": round(float(a.mean()), 2)}


class Connection:
    """One keep-alive HTTP/1.1 connection to ``HOST:port`` (JSON POSTs and GETs; a few µs per request)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request; returns ``(status, body)``. Reconnects when the server closed the connection."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:  # closed by the server between requests: once more on a new connection
            await self.close()
            return await self.request(method, path, body)
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


@dataclass
class LoadResult:
    """What a load phase measured: latencies of successful requests, failures by status, wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    bodies: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        """``throughput_rps``, p50/p95/p99 latency, ``ok`` and ``failed`` counts."""
        out = {"throughput_rps": round(self.ok / self.seconds, 2) if self.seconds else 0.0,
               **percentiles(self.latencies_ms), "ok": self.ok, "failed": sum(self.failures.values())}
        if self.failures:
            out["failures"] = dict(self.failures)
        return out


async def _load(port: int, path: str, bodies: Callable[[int], bytes], clients: int, requests: int,
                max_seconds: float, keep: int) -> LoadResult:
    result = LoadResult()
    counter = iter(range(requests))
    deadline = time.perf_counter() + max_seconds

    async def client() -> None:
        conn = Connection(port)
        try:
            for i in counter:
                if time.perf_counter() > deadline:
                    break
                body = bodies(i)
                start = time.perf_counter()
                try:
                    status, data = await conn.request("POST", path, body)
                except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                    result.failures[type(err).__name__] = result.failures.get(type(err).__name__, 0) + 1
                    await conn.close()
                    continue
                ms = (time.perf_counter() - start) * 1e3
                if status == 200:
                    result.latencies_ms.append(ms)
                    if len(result.bodies) < keep:
                        result.bodies.append((i, data))
                else:
                    result.failures[str(status)] = result.failures.get(str(status), 0) + 1
        finally:
            await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.perf_counter() - start
    return result


def load(port: int, path: str, bodies: Callable[[int], bytes], *, clients: int, requests: int,
         max_seconds: float = 60.0, keep: int = 0) -> LoadResult:
    """Closed-loop load: ``clients`` concurrent keep-alive clients send ``requests`` POSTs in all (request
    ``i`` has body ``bodies(i)``), stopping early after ``max_seconds``; keeps ``keep`` bodies to check."""
    return asyncio.run(_load(port, path, bodies, clients, requests, max_seconds, keep))


class Server:
    """``mmbench serve ARGS`` as a child process on a free loopback port, stopped with SIGTERM (its
    graceful drain) when the ``with`` block ends; its log is kept in a temporary file."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, start_timeout_s: float = 600.0) -> None:
        self.port = free_port()
        self.args = ["serve", "--host", HOST, "--port", str(self.port), "--no-ui", *args]
        self.env = env or {}
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="mmbench-bench-serve-", suffix=".log", delete=False)
        self.started_s = 0.0

    def __enter__(self) -> "Server":
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # loopback only: never a remote cluster
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above mmbench/
        env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        env.update(self.env)
        start = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "mmbench.cli", *self.args], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(start + self.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - start
        return self

    def _wait_ready(self, deadline: float) -> None:
        url = f"http://{HOST}:{self.port}/readyz"
        while time.perf_counter() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"`mmbench {' '.join(self.args)}` exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"`mmbench {' '.join(self.args)}` was not ready in {self.start_timeout_s:.0f} s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """The end of the server's log."""
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-chars:]

    def stop(self, timeout_s: float = 90.0) -> None:
        """SIGTERM (drain, close the runner), then SIGKILL to the process group if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.log.close()
        os.unlink(self.log.name)


def dumps(payload: dict[str, Any]) -> bytes:
    """A compact JSON body."""
    return json.dumps(payload, separators=(",", ":")).encode()
