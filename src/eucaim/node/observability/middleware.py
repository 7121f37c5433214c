"""ASGI middleware: a request id in and out, one access log line, and request/STOW metrics.

Pure ASGI rather than ``BaseHTTPMiddleware``: STOW bodies of gigabytes stream through untouched,
and only the byte count is kept.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eucaim.node.observability.logging import REQUEST_ID_HEADER, accept_request_id, request_id
from eucaim.node.observability.metrics import NodeMetrics

logger = logging.getLogger("eucaim.node.access")

# A Store Instances Response lists one item per instance; a few MB covers thousands.
_MAX_CAPTURED_RESPONSE = 8 * 1024**2
_STOW_SUFFIXES = ("/dicom-web/studies", "/dicom-web/studies/{study}")


def route_template(scope: Scope) -> str:
    """Return the matched route's path template, or "unmatched" (never the concrete path)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def is_stow(scope: Scope) -> bool:
    """Return True when the request was routed to a STOW-RS endpoint."""
    return scope.get("method") == "POST" and route_template(scope).endswith(_STOW_SUFFIXES)


class ObservabilityMiddleware:
    """Wraps the whole app; see the module docstring."""

    def __init__(self, app: ASGIApp, *, metrics: NodeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode())
        rid = accept_request_id(incoming.decode("latin-1") if incoming else None)
        token = request_id.set(rid)
        started = time.perf_counter()
        received = 0
        status = 500
        captured: list[bytes] = []
        captured_size = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            nonlocal status, captured_size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            elif message["type"] == "http.response.body" and is_stow(scope):
                chunk = message.get("body", b"")
                if captured_size + len(chunk) <= _MAX_CAPTURED_RESPONSE:
                    captured.append(chunk)
                    captured_size += len(chunk)
            await send(message)

        try:
            await self.app(scope, counting_receive, tagging_send)
        except Exception:
            self.metrics.errors.labels(route_template(scope), "exception").inc()
            raise
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.observe_request(method=method, route=route, status=status, seconds=seconds)
            if is_stow(scope):
                self.metrics.observe_stow(body_bytes=received, response_body=b"".join(captured))
            # Route template, not path or query: those hold UIDs and QIDO search values.
            logger.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "request_id": rid,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "bytes_in": received,
                },
            )
            request_id.reset(token)
