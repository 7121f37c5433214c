"""Domain errors to HTTP: one JSON problem body (RFC 9457) for every failure the node reports.

Services raise errors from eucaim.errors; this module alone decides their HTTP status.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from eucaim.errors import (
    AuthenticationError,
    Conflict,
    EucaimError,
    InvalidDicomError,
    NotFound,
    PermissionDenied,
    TransientError,
)
from eucaim.node.errors import InvalidRequest, MissingCredentials, RequestTooLarge

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Checked in order: the first class the error is an instance of decides the status.
STATUS_BY_ERROR: tuple[tuple[type[EucaimError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 400),
    (RequestTooLarge, 413),
    (InvalidDicomError, 400),
    (TransientError, 503),
)

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int, detail: str, *, hint: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return a problem response; ``hint`` says what the caller can do about it."""
    body: dict[str, object] = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_for(error: EucaimError) -> int:
    """Return the HTTP status of a domain error (500 for an unmapped one)."""
    return next((status for cls, status in STATUS_BY_ERROR if isinstance(error, cls)), 500)


async def _on_eucaim_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EucaimError)
    status = status_for(exc)
    headers = None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="eucaim-node"'}
        if not isinstance(exc, MissingCredentials):  # RFC 6750 §3.1: a token was sent but refused
            headers["WWW-Authenticate"] += ', error="invalid_token"'
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    # str(exc) already appends the hint; keep the message and hint apart in the body.
    return problem(status, exc.args[0] if exc.args else str(exc), hint=exc.hint, headers=headers)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    where = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}" for err in exc.errors()
    )
    return problem(400, f"invalid request: {where}")


def register_exception_handlers(app: FastAPI) -> None:
    """Install the handlers that turn every error into a problem response."""
    app.add_exception_handler(EucaimError, _on_eucaim_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
