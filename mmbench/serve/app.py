"""``create_app()``: the FastAPI application of ``mmbench serve`` — REST + health + metrics + the web UI.

* ``POST /v1/...``: one route per row of :data:`mmbench.serve.tasks.ENDPOINTS`, JSON bodies
  (base64 for files) or multipart/form-data uploads, answered by a :class:`~.runner.Runner`;
* ``GET /healthz`` (the process lives: always 200, never queued), ``GET /readyz`` (200 once the
  default models are warm, 503 before and while draining), ``GET /metrics`` (Prometheus, the same
  counters the web app reports), ``/docs`` and ``/openapi.json``;
* the Gradio web app mounted at ``/`` (``ui=True``); the REST routes are declared first, so they win.

Errors are JSON ``{"error": {"code", "message", "hint"}, "request_id"}``: an
:class:`~mmbench.errors.MMBenchError` keeps its user message and maps to a 4xx (:func:`status_for`),
a body over the cap is a 413, a full server a 503 (or 429 per client) with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from .. import telemetry
from ..errors import InvalidInputError, MMBenchError, ModelUnavailableError, UnknownModelError, UnknownTaskError
from .admission import Admission, Overloaded
from .middleware import BodyTooLarge, ServeMiddleware, error_body, too_large_body
from .runner import LocalRunner, Runner
from .schemas import BINARY_KINDS, parse_json, request_schema
from .tasks import ENDPOINTS, Endpoint

log = logging.getLogger("mmbench.serve")

#: Default limits: model calls at once, requests waiting for one, request body size.
MAX_CONCURRENCY = 2
MAX_QUEUE = 32
MAX_BODY_MB = 32.0


class UnsupportedMediaType(InvalidInputError):
    """The request's Content-Type is neither JSON nor a form."""


def status_for(err: MMBenchError) -> int:
    """HTTP status of a library error: 404 unknown model/endpoint, 415 content type, 422 bad input,
    503 model not available here (or server full), 429 client over its share, else 400."""
    if isinstance(err, Overloaded):
        return err.status
    if isinstance(err, (UnknownModelError, UnknownTaskError)):
        return 404
    if isinstance(err, UnsupportedMediaType):
        return 415
    if isinstance(err, InvalidInputError):
        return 422
    if isinstance(err, ModelUnavailableError):
        return 503
    return 400


def error_response(err: MMBenchError, request_id: str | None) -> Any:
    """A JSON response for ``err`` (with ``Retry-After`` when the server is full)."""
    from starlette.responses import JSONResponse

    headers = {"Retry-After": str(err.retry_after)} if isinstance(err, Overloaded) else None
    return JSONResponse(error_body(type(err).__name__, err.message, err.hint, request_id), status_for(err),
                        headers=headers)


async def read_wire(request: Any, endpoint: Endpoint, max_body_bytes: int) -> dict[str, Any]:
    """The wire dict of a request: a parsed JSON body, or form fields (files as bytes)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        return parse_json(await request.body())
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        from starlette.exceptions import HTTPException

        try:
            form = await request.form(max_files=1000, max_fields=1000, max_part_size=max_body_bytes)
        except HTTPException as exc:
            raise InvalidInputError(f"The form data cannot be read: {exc.detail}") from None
        try:
            kinds = {f.name: f.kind for f in endpoint.all_fields}
            wire: dict[str, Any] = {}
            for key in form.keys():
                values = [await v.read() if hasattr(v, "read") else v for v in form.getlist(key)]
                many = kinds.get(key) in ("images", "texts") and (len(values) > 1 or kinds.get(key) == "images")
                wire[key] = values if many else values[0]
                if kinds.get(key) in BINARY_KINDS and any(isinstance(v, str) and not v for v in values):
                    raise InvalidInputError(f"Field '{key}' is empty: attach a file.")
            return wire
        finally:
            await form.close()
    raise UnsupportedMediaType(f"Unsupported Content-Type '{ctype}'.",
                               hint="Send application/json (files base64-encoded) or multipart/form-data.")


def create_app(runner: Runner | None = None, *, ui: bool = True, max_concurrency: int = MAX_CONCURRENCY,
               max_queue: int = MAX_QUEUE, max_body_mb: float = MAX_BODY_MB, max_per_client: int | None = None,
               queue_timeout_s: float = 30.0, warm: bool = True) -> Any:
    """The ``mmbench serve`` FastAPI app.

    Args:
        runner: runs the endpoints (default: a :class:`LocalRunner` with ``max_concurrency`` threads;
            ``mmbench.serve.ray_serve.RayRunner`` for Ray Serve).
        ui: mount the Gradio web app at ``/``.
        max_concurrency: requests running models at once; ``max_queue``: requests waiting beyond
            those (more are refused with 503 + ``Retry-After``); ``max_per_client``: requests one
            client address may have admitted at once (more: 429), None for no per-client limit.
        max_body_mb: request body cap (413 beyond it, checked before and while reading).
        queue_timeout_s: longest wait for a worker before a 503.
        warm: load the runner's default models in a background thread at startup (``/readyz``).

    Returns:
        A ``fastapi.FastAPI``; serve it with uvicorn (:func:`mmbench.serve.server.run`).
    """
    from fastapi import FastAPI

    runner = runner if runner is not None else LocalRunner(max_workers=max_concurrency)
    admission = Admission(max_concurrency, max_queue, max_per_client=max_per_client, queue_timeout_s=queue_timeout_s)
    max_body = int(max_body_mb * 2**20)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        if warm:
            threading.Thread(target=_warm, args=(runner,), name="mmbench-warm-up", daemon=True).start()
        telemetry.metrics().watch_queue(lambda: admission.waiting, "serve")
        try:
            yield
        finally:
            app.state.draining = True
            import anyio.to_thread

            await anyio.to_thread.run_sync(runner.close)
            log.info("stopped: in-flight requests drained, runner closed")

    app = FastAPI(title="mmbench serve", version=_version(), lifespan=lifespan,
                  description="mmbench's tasks as a REST service. Files go base64-encoded in JSON bodies or as "
                              "multipart/form-data uploads. Errors: `{\"error\": {code, message, hint}}`.")
    app.state.runner, app.state.admission, app.state.draining = runner, admission, False
    _add_health_routes(app, runner)
    for endpoint in ENDPOINTS.values():
        _add_endpoint(app, endpoint, runner, max_body)
    _add_error_handlers(app)
    if ui:
        _mount_ui(app)
    app.add_middleware(ServeMiddleware, max_body_bytes=max_body, admission=admission,
                       routes={e.path: e.name for e in ENDPOINTS.values()})
    return app


def _warm(runner: Runner) -> None:
    try:
        runner.warm_up()
    except Exception:  # never kills the server: /readyz stays 503 and says so in the log
        log.exception("warming up the default models failed")


def _version() -> str:
    import mmbench

    return mmbench.__version__


def _add_health_routes(app: Any, runner: Runner) -> None:
    from starlette.responses import JSONResponse

    from ..ui.metrics_endpoint import metrics_response

    async def healthz() -> Any:
        return JSONResponse({"status": "ok"})

    async def readyz() -> Any:
        if app.state.draining:
            return JSONResponse({"status": "draining"}, 503)
        if not runner.ready():
            return JSONResponse({"status": "warming up"}, 503, headers={"Retry-After": "1"})
        body: dict[str, Any] = {"status": "ready"}
        if getattr(runner, "error", None):
            body["warning"] = runner.error
        return JSONResponse(body)

    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness: 200 while the process serves")
    app.add_api_route("/readyz", readyz, methods=["GET"], summary="Readiness: 200 once the default models are loaded")
    app.add_api_route("/metrics", metrics_response, methods=["GET"], summary="Prometheus metrics")


def _add_endpoint(app: Any, endpoint: Endpoint, runner: Runner, max_body: int) -> None:
    name = endpoint.name

    async def handle(request: Any) -> Any:
        from starlette.responses import JSONResponse

        rid = request.scope["state"]["request_id"]
        with telemetry.track_request(name) as record:
            record.task = endpoint.task or telemetry.NONE
            try:
                # admitted by ServeMiddleware before routing (a full server refuses there, cheaply)
                ticket = request.scope["state"]["ticket"]
                wire = await read_wire(request, endpoint, max_body)
                async with ticket.turn():
                    result = await runner.run(name, wire)
            except MMBenchError as err:
                record.error = telemetry.error_type(err)
                return error_response(err, rid)
            except BodyTooLarge as exc:
                record.error = "PayloadTooLarge"
                return JSONResponse(too_large_body(exc.limit, rid), 413, headers={"Connection": "close"})
            telemetry.set_labels(model=result.get("model"), tier=result.get("tier"))
        return JSONResponse(result)

    from starlette.requests import Request

    handle.__annotations__["request"] = Request  # resolved here: this module uses string annotations
    handle.__name__ = name.replace(".", "_").replace("-", "_")
    app.add_api_route(endpoint.path, handle, methods=["POST"], summary=endpoint.summary, name=name,
                      description=(endpoint.run.__doc__ or endpoint.summary).strip(),
                      tags=[endpoint.path.split("/")[2]],
                      openapi_extra={"requestBody": request_schema(endpoint.all_fields)})


def _add_error_handlers(app: Any) -> None:
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse

    codes = {404: "NotFound", 405: "MethodNotAllowed"}

    async def http_error(request: Any, exc: HTTPException) -> Any:
        rid = request.scope.get("state", {}).get("request_id")
        body = error_body(codes.get(exc.status_code, f"HTTP{exc.status_code}"), str(exc.detail), None, rid)
        return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))

    async def library_error(request: Any, exc: MMBenchError) -> Any:
        return error_response(exc, request.scope.get("state", {}).get("request_id"))

    async def unexpected(request: Any, exc: Exception) -> Any:  # a bug: logged with its traceback
        rid = request.scope.get("state", {}).get("request_id")
        log.error("unexpected error", exc_info=exc, extra={"fields": {"request_id": rid}})
        return JSONResponse(error_body("InternalError", "Something went wrong on the server (details in its log).",
                                       None, rid), 500)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(MMBenchError, library_error)
    app.add_exception_handler(Exception, unexpected)


def _mount_ui(app: Any) -> None:
    import gradio as gr

    from ..ui import locale
    from ..ui.app import MAX_FILE_SIZE, build_app
    from ..ui.metrics_endpoint import watch_queue

    demo = build_app()
    watch_queue(demo)
    gr.mount_gradio_app(app, demo, path="/", max_file_size=MAX_FILE_SIZE, ssr_mode=False,
                        i18n=locale.gradio_i18n(), js=locale.SWITCH_JS)  # the two languages and their switch
