"""``mmbench serve``: the REST microservice (and the web UI on the same port)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_serve(args: argparse.Namespace) -> None:
    """Run :func:`mmbench.serve.server.run` with the command line's options (blocks until SIGTERM)."""
    from ..serve.server import run

    run(args.host, args.port, ray=args.ray, ui=not args.no_ui, index=args.index,
        max_concurrency=args.max_concurrency, max_queue=args.max_queue, max_body_mb=args.max_body_mb,
        max_per_client=args.max_per_client)


def add_parser(commands: Any) -> None:
    """Add ``serve`` to the ``commands`` subparsers."""
    s = commands.add_parser(
        "serve", help="REST microservice + web UI (FastAPI/uvicorn; --ray for Ray Serve)",
        description="Serve mmbench's tasks as versioned REST endpoints (/v1/..., docs at /docs), /healthz, "
                    "/readyz, /metrics, and the Gradio web app at / on the same port. SIGTERM drains running "
                    "requests before exiting.")
    s.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1; 0.0.0.0 in a container)")
    s.add_argument("--port", type=int, default=None, help="port (default $PORT or 8000)")
    s.add_argument("--ray", action="store_true", help="run the models on Ray Serve deployments (replicas, batching)")
    s.add_argument("--no-ui", action="store_true", help="REST only: do not mount the Gradio web app")
    s.add_argument("--index", default=None, metavar="PATH",
                   help="photo index (`mmbench index build`) that POST /v1/search queries")
    s.add_argument("--max-concurrency", type=int, default=2, help="requests running models at once (default 2)")
    s.add_argument("--max-queue", type=int, default=32,
                   help="requests waiting beyond those; more get 503 + Retry-After (default 32)")
    s.add_argument("--max-per-client", type=int, default=None,
                   help="requests one client address may have queued or running; more get 429 (default: no limit)")
    s.add_argument("--max-body-mb", type=float, default=32.0, help="request body cap in MB; larger get 413 (default 32)")
    s.set_defaults(handler=cmd_serve)
