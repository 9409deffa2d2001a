"""``run()``: serve :func:`mmbench.serve.app.create_app` with uvicorn (what ``mmbench serve`` calls).

Shutdown is graceful: on SIGTERM/SIGINT the server stops accepting connections, ``/readyz`` turns
503 (a load balancer stops sending traffic), requests already running finish (up to
``drain_timeout_s``), and then the runner is closed. Logs are JSON lines on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from ..errors import DependencyError

#: Defaults of ``mmbench serve`` (``PORT`` from the environment wins over the port, as hosts set it).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send mmbench's logs (access lines included) and uvicorn's server messages (startup, shutdown,
    draining, errors) to stderr as JSON lines, once."""
    from .middleware import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._mmbench_json = True  # type: ignore[attr-defined]
    for name in ("mmbench", "uvicorn.error"):
        logger = logging.getLogger(name)
        if any(getattr(h, "_mmbench_json", False) for h in logger.handlers):
            continue
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def make_runner(ray: bool = False, **options: Any) -> Any:
    """The runner: a :class:`~.runner.LocalRunner`, or Ray Serve's ``RayRunner`` when ``ray``."""
    if not ray:
        from .runner import LocalRunner

        return LocalRunner(max_workers=options.get("max_concurrency", 2))
    try:
        from . import ray_serve
    except ImportError as exc:
        raise DependencyError(f"Ray Serve support cannot be loaded ({exc}).",
                              hint="Install it with `pip install 'ray[serve]'`, or run without --ray.") from None
    return ray_serve.RayRunner(**options.get("ray_options", {}))


def build_server(app: Any, host: str, port: int, *, drain_timeout_s: float = 30.0, **uvicorn_options: Any) -> Any:
    """A ``uvicorn.Server`` for ``app`` whose exit (signal or ``should_exit``) marks the app as draining."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None,
                            timeout_graceful_shutdown=drain_timeout_s, lifespan="on", **uvicorn_options)

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.draining = True
            super().handle_exit(sig, frame)

    return DrainingServer(config)


def run(host: str | None = None, port: int | None = None, *, ray: bool = False, ui: bool = True,
        index: str | None = None, max_concurrency: int = 2, max_queue: int = 32, max_body_mb: float = 32.0,
        max_per_client: int | None = None, drain_timeout_s: float = 30.0) -> None:
    """Serve the REST API (and the web UI unless ``ui=False``) until SIGTERM/SIGINT, then drain.

    ``index``: a photo index (``mmbench index build``) for ``POST /v1/search`` (sets ``MMBENCH_INDEX``).
    ``ray``: run the endpoints on Ray Serve deployments (``mmbench.serve.ray_serve``).
    """
    from .app import create_app
    from .tasks import INDEX_ENV

    configure_json_logging()
    # The event loop thread (accepting, refusing, /healthz) must get the GIL back quickly from the
    # threads running models: 1 ms instead of Python's default 5 ms between forced switches.
    sys.setswitchinterval(0.001)
    if index:
        if not os.path.exists(index):
            from ..errors import InvalidInputError

            raise InvalidInputError(f"No photo index at {index}.", hint="Build one with `mmbench index build FOLDER`.")
        os.environ[INDEX_ENV] = os.path.abspath(index)
    host = host or os.environ.get("MMBENCH_HOST") or DEFAULT_HOST
    port = port or int(os.environ.get("PORT") or DEFAULT_PORT)
    runner = make_runner(ray, max_concurrency=max_concurrency)
    app = create_app(runner, ui=ui, max_concurrency=max_concurrency, max_queue=max_queue, max_body_mb=max_body_mb,
                     max_per_client=max_per_client)
    logging.getLogger("mmbench.serve").info("serving", extra={"fields": {
        "url": f"http://{host}:{port}", "ray": ray, "ui": ui, "index": os.environ.get(INDEX_ENV)}})
    build_server(app, host, port, drain_timeout_s=drain_timeout_s).run()
