"""Admission control of ``mmbench serve``: a bounded number of requests run, a bounded number wait,
the rest are refused at once with ``Retry-After`` — a full server answers "come back later" in
microseconds instead of piling up requests (and their bodies) until it runs out of memory.

* at most ``max_concurrency`` requests run models at once;
* at most ``max_queue`` more wait for a turn (for up to ``queue_timeout_s``);
* beyond that a request is refused with **503** (the whole server is full), or with **429** when
  its own client already has ``max_per_client`` requests admitted (one client hogging the queue).

A request takes a :class:`Ticket` with :meth:`Admission.admit` *before* its body is read (so a
refused request costs no upload memory), then waits for a turn with :meth:`Ticket.turn`.
Everything here runs on the event loop thread: plain counters, no locks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from contextlib import asynccontextmanager
from typing import AsyncIterator

from ..errors import MMBenchError


class Overloaded(MMBenchError):
    """The server (503) or this client's share of it (429) is full; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, status: int, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after


class Admission:
    """Bounded in-flight + bounded waiting requests (see the module docstring)."""

    def __init__(self, max_concurrency: int = 2, max_queue: int = 16, *, max_per_client: int | None = None,
                 queue_timeout_s: float = 30.0) -> None:
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.max_concurrency = int(max_concurrency)
        self.max_queue = int(max_queue)
        self.max_per_client = max_per_client
        self.queue_timeout_s = float(queue_timeout_s)
        self.admitted = 0  # tickets alive: running + waiting + reading their body
        self.running = 0
        self.refused = 0
        self.per_client: Counter[str] = Counter()
        self._semaphore: asyncio.Semaphore | None = None
        self._service_s = 0.05  # moving average of the time a request holds its turn

    @property
    def waiting(self) -> int:
        """Admitted requests not running yet (the queue depth)."""
        return self.admitted - self.running

    def retry_after(self) -> int:
        """Seconds after which a refused client may reasonably retry (>= 1)."""
        backlog = (self.waiting + 1) * self._service_s / self.max_concurrency
        return int(min(60, max(1, math.ceil(backlog))))

    def admit(self, client: str = "") -> "Ticket":
        """A ticket for one request, or :class:`Overloaded` at once when there is no room."""
        if self.max_per_client is not None and self.per_client[client] >= self.max_per_client:
            self.refused += 1
            raise Overloaded(f"Too many requests from this client at once (limit {self.max_per_client}).",
                             status=429, retry_after=self.retry_after(),
                             hint="Wait for your earlier requests to finish, then retry.")
        if self.admitted >= self.max_concurrency + self.max_queue:
            self.refused += 1
            raise Overloaded("The server is busy: every worker is running and the queue is full.",
                             status=503, retry_after=self.retry_after(), hint="Retry after the Retry-After delay.")
        self.admitted += 1
        self.per_client[client] += 1
        return Ticket(self, client)

    def _release(self, client: str) -> None:
        self.admitted -= 1
        self.per_client[client] -= 1
        if self.per_client[client] <= 0:
            del self.per_client[client]

    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created on the serving loop
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore


class Ticket:
    """One admitted request; use as a context manager (``with``) so that it is always released."""

    def __init__(self, admission: Admission, client: str) -> None:
        self.admission = admission
        self.client = client
        self._open = True

    def __enter__(self) -> "Ticket":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._open:
            self._open = False
            self.admission._release(self.client)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait (at most ``queue_timeout_s``) for a free worker, then hold it for the block."""
        adm = self.admission
        sem = adm.semaphore()
        if sem.locked():
            try:
                await asyncio.wait_for(sem.acquire(), adm.queue_timeout_s)
            except asyncio.TimeoutError:
                raise Overloaded(f"The request waited {adm.queue_timeout_s:g} s for a worker without getting one.",
                                 status=503, retry_after=adm.retry_after(),
                                 hint="The server is overloaded; retry later.") from None
        else:
            await sem.acquire()  # free: returns without suspending
        adm.running += 1
        start = time.perf_counter()
        try:
            yield
        finally:
            adm.running -= 1
            sem.release()
            adm._service_s = 0.8 * adm._service_s + 0.2 * (time.perf_counter() - start)
