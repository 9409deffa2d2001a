"""The HTTP plumbing every request of ``mmbench serve`` goes through, as one pure ASGI middleware
(no per-request thread hop, no buffering): request ids, the body-size cap and JSON access logs.

* **Request id**: ``X-Request-ID`` from the client (if sane) or a new one; echoed on the response,
  kept in ``scope["state"]["request_id"]`` and written in the log line.
* **Body cap**: a ``Content-Length`` over the cap is refused with 413 before a byte is read; a body
  without one (chunked) is counted while it streams and refused as soon as it passes the cap, so a
  50 MB upload is never buffered.
* **Admission**: a ``POST`` to a REST endpoint takes a :class:`~.admission.Ticket` here, before any
  routing or body reading, so that a full server refuses it (503/429 + ``Retry-After``) for the
  price of parsing its headers; the handler finds the ticket in ``scope["state"]["ticket"]``.
* **Access log**: one JSON line per request on the ``mmbench.serve.access`` logger (method, path,
  status, milliseconds, client, request id), formatted by :class:`JsonFormatter`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any, Callable

ACCESS_LOG = logging.getLogger("mmbench.serve.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class BodyTooLarge(Exception):
    """The request body passed the cap while streaming in."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def error_body(code: str, message: str, hint: str | None, request_id: str | None) -> dict[str, Any]:
    """The JSON body of every error response of ``mmbench serve``."""
    return {"error": {"code": code, "message": message, "hint": hint}, "request_id": request_id}


def too_large_body(limit: int, request_id: str | None = None) -> dict[str, Any]:
    """The JSON error body of a 413."""
    return error_body("PayloadTooLarge", f"The request body is larger than the {limit / 2**20:g} MB limit.",
                      "Send a smaller file (downscale the image, trim the audio or video).", request_id)


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object per line; ``extra={"fields": {...}}`` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return None


class ServeMiddleware:
    """Request id, body cap and access log around an ASGI ``app`` (see the module docstring)."""

    def __init__(self, app: Callable, max_body_bytes: int, admission: Any = None,
                 routes: dict[str, str] | None = None) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.admission = admission  # an mmbench.serve.admission.Admission, or None
        self.routes = dict(routes or {})  # REST path -> endpoint name (the requests admission applies to)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = _header(scope, b"x-request-id")
        rid = raw_id.decode("latin-1") if raw_id and _SANE_ID.match(raw_id.decode("latin-1")) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode("latin-1"))
        start = time.perf_counter()
        status = [0]

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        limit = self.max_body_bytes
        length = _header(scope, b"content-length")
        try:
            declared = int(length) if length is not None else None
        except ValueError:
            declared = None
        ticket = None
        try:
            if declared is not None and declared > limit:
                await self._send_413(send_with_id, limit, rid)
                return
            if self.admission is not None and scope.get("method") == "POST" and scope.get("path") in self.routes:
                ticket = await self._admit(scope, send_with_id, rid, start)
                if ticket is None:
                    return
            received = [0]

            async def counting_receive() -> dict:
                message = await receive()
                if message["type"] == "http.request":
                    received[0] += len(message.get("body", b""))
                    if received[0] > limit:
                        raise BodyTooLarge(limit)
                return message

            try:
                await self.app(scope, counting_receive, send_with_id)
            except BodyTooLarge:
                if status[0]:
                    raise
                await self._send_413(send_with_id, limit, rid)
        finally:
            if ticket is not None:
                ticket.__exit__(None, None, None)
            self._log(scope, rid, status[0], start)

    async def _admit(self, scope: dict, send: Callable, rid: str, start: float) -> Any:
        """A ticket for this request, or None after answering 503/429 (counted in the metrics)."""
        from .. import telemetry
        from .admission import Overloaded

        client = scope.get("client")
        try:
            ticket = self.admission.admit(client[0] if client else "")
        except Overloaded as err:
            name = self.routes[scope["path"]]
            telemetry.metrics().record(telemetry.RequestRecord(action=name, error=type(err).__name__),
                                       time.perf_counter() - start)
            await _send_json(send, err.status, error_body(type(err).__name__, err.message, err.hint, rid),
                             [(b"retry-after", str(err.retry_after).encode())])
            return None
        scope["state"]["ticket"] = ticket
        return ticket

    @staticmethod
    async def _send_413(send: Callable, limit: int, rid: str) -> None:
        await _send_json(send, 413, too_large_body(limit, rid), [(b"connection", b"close")])

    @staticmethod
    def _log(scope: dict, rid: str, status: int, start: float) -> None:
        if not ACCESS_LOG.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        ACCESS_LOG.info("request", extra={"fields": {
            "request_id": rid, "method": scope.get("method"), "path": scope.get("path"), "status": status,
            "ms": round((time.perf_counter() - start) * 1000, 2), "client": client[0] if client else None}})


async def _send_json(send: Callable, status: int, payload: dict, headers: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
