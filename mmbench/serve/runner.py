"""Where the REST endpoints run: the :class:`Runner` protocol and the in-process :class:`LocalRunner`.

The web layer (:mod:`mmbench.serve.app`) only parses requests and hands a *wire dict* (JSON values;
binary inputs as bytes or base64 strings, see :mod:`mmbench.serve.schemas`) to a runner:

* :class:`LocalRunner` runs :func:`mmbench.serve.tasks.execute` in a bounded thread pool of this
  process, with models from ``mmbench.pipeline`` (the one process-wide model cache);
* ``mmbench.serve.ray_serve.RayRunner`` forwards to Ray Serve deployments (replicas, batching).

Both raise the library's typed errors (:class:`~mmbench.errors.MMBenchError`) for bad inputs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, Sequence, runtime_checkable

from ..errors import UnknownTaskError
from .tasks import DEFAULT_WARM, ENDPOINTS, execute

log = logging.getLogger("mmbench.serve")


@runtime_checkable
class Runner(Protocol):
    """What the REST app needs from whatever runs the models."""

    async def run(self, endpoint: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run endpoint ``endpoint`` (a key of :data:`~mmbench.serve.tasks.ENDPOINTS`) on a wire dict."""
        ...

    def ready(self) -> bool:
        """True once the default models are loaded (``/readyz``)."""
        ...

    def warm_up(self) -> None:
        """Load the default models (blocking; the app calls it in a background thread)."""
        ...

    def close(self) -> None:
        """Finish running requests and release resources."""
        ...


def check_endpoint(name: str) -> None:
    """Raise :class:`UnknownTaskError` unless ``name`` is an endpoint."""
    if name not in ENDPOINTS:
        raise UnknownTaskError(f"No endpoint named '{name}'.", hint=f"Endpoints: {', '.join(sorted(ENDPOINTS))}.")


class LocalRunner:
    """Run endpoints in this process, in a pool of ``max_workers`` threads.

    Args:
        max_workers: threads running models at once (the app's admission control keeps the number
            of requests handed over at or below this, so none waits inside the pool).
        warm: registry tasks whose default pipelines :meth:`warm_up` loads (default: matching).
        models: task -> registry model name to warm instead of the task's default.
    """

    def __init__(self, max_workers: int = 2, warm: Sequence[str] = DEFAULT_WARM,
                 models: dict[str, str] | None = None) -> None:
        self.max_workers = max(1, int(max_workers))
        self.warm = tuple(warm)
        self.models = dict(models or {})
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="mmbench-serve")
        self._ready = threading.Event()
        #: Why warming up failed (``/readyz`` shows it), else None.
        self.error: str | None = None

    async def run(self, endpoint: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run ``endpoint`` on ``inputs`` in the pool; awaits the result."""
        check_endpoint(endpoint)
        return await asyncio.get_running_loop().run_in_executor(self._pool, execute, endpoint, inputs)

    def run_sync(self, endpoint: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """:meth:`run` from synchronous code (the calling thread runs it)."""
        check_endpoint(endpoint)
        return execute(endpoint, inputs)

    def ready(self) -> bool:
        return self._ready.is_set()

    def warm_up(self) -> None:
        """Load the default pipelines; readiness is set even when one fails (the error is kept in
        :attr:`error` and logged), so the service still answers what it can."""
        from ..errors import MMBenchError
        from ..loading import pipeline

        for task in self.warm:
            try:
                pipeline(task, model=self.models.get(task))
            except MMBenchError as err:
                self.error = f"{task}: {err}"
                log.warning("could not warm up %s: %s", task, err)
        self._ready.set()

    def close(self) -> None:
        """Wait for running requests, then stop the threads."""
        self._pool.shutdown(wait=True)
