"""Structured JSON log lines, each carrying the id of the request it belongs to.

The request id lives in a context variable the middleware sets; threads FastAPI runs sync routes
in copy the context, so a service's log line carries the id of the request that called it.
Nothing here adds request data to a line (no paths, no query strings, no headers): the callers
decide what a line says, and the access line says only route templates.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID_HEADER = "x-request-id"

# A client's id is echoed into logs and headers: only short, plain ids pass (no log injection).
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

request_id: ContextVar[str | None] = ContextVar("eucaim_node_request_id", default=None)


def accept_request_id(incoming: str | None) -> str:
    """Return the client's X-Request-ID when it is safe to echo, else a fresh random id."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id when it is emitted (formatting may be later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, and ``extra`` fields."""

    # Attributes every LogRecord has; anything else came from ``extra=`` and is written too.
    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid is not None:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_") and key != "request_id":
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send the root logger's lines to stderr as JSON (an entry point's choice, not the library's)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
