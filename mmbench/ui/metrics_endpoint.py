"""``/metrics`` on the web app's own server: Prometheus scrapes the same host and port as the browser.

:func:`serve` is ``demo.launch()`` plus the route: Gradio builds its FastAPI app inside
``launch()``, so the app is launched without blocking, the ``/metrics`` route is added to it (Gradio
has no catch-all route at the root, so nothing shadows it), and then the main thread blocks as
``launch()`` would have. The metrics are :mod:`mmbench.telemetry`'s; the app's queue depth is
reported through :func:`mmbench.telemetry.Telemetry.watch_queue`.
"""

from __future__ import annotations

import sys
import weakref
from typing import TYPE_CHECKING, Any

from .. import telemetry

if TYPE_CHECKING:  # annotations only: `mmbench serve --no-ui` serves /metrics without importing gradio
    import gradio as gr

#: Where the metrics are served.
METRICS_PATH = "/metrics"


def metrics_response() -> Any:
    """The process-wide metrics as a Starlette response in the Prometheus text format."""
    from starlette.responses import Response

    body, content_type = telemetry.exposition()
    return Response(content=body, headers={"Content-Type": content_type})


def add_metrics_route(app: Any, path: str = METRICS_PATH) -> None:
    """Serve the metrics at ``path`` of the FastAPI/Starlette ``app`` (once; a second call is a no-op)."""
    if any(getattr(route, "path", None) == path for route in app.routes):
        return
    app.add_api_route(path, metrics_response, methods=["GET"], include_in_schema=False)


def watch_queue(demo: gr.Blocks, name: str = "app") -> None:
    """Report the number of events waiting in ``demo``'s queue as ``mmbench_queue_depth{queue=name}``."""
    ref = weakref.ref(demo)

    def depth() -> int:
        blocks = ref()
        queue = getattr(blocks, "_queue", None) if blocks is not None else None  # Gradio keeps it there
        return len(queue) if queue is not None else 0

    telemetry.metrics().watch_queue(depth, name)


def serve(demo: gr.Blocks, **launch_kwargs: Any) -> Any:
    """``demo.launch(**launch_kwargs)`` with ``/metrics`` served beside the app; blocks unless
    ``prevent_thread_lock=True`` (then returns at once, like ``launch``). Returns what ``launch`` returns."""
    block = not launch_kwargs.pop("prevent_thread_lock", False)
    result = demo.launch(prevent_thread_lock=True, **launch_kwargs)
    add_metrics_route(demo.app)
    watch_queue(demo)
    interactive = bool(getattr(sys, "ps1", sys.flags.interactive))
    if block and not interactive:
        demo.block_thread()
    return result
