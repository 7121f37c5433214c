"""Node errors not yet in eucaim.errors: a request the node cannot act on as sent (HTTP 400)."""

from __future__ import annotations

from eucaim.errors import EucaimError


class InvalidRequest(EucaimError):
    """The request's parameters or body are malformed; carries the offending parameter."""

    def __init__(self, message: str, *, parameter: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.parameter = parameter
