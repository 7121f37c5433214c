"""Node errors not in eucaim.errors: malformed requests (400), missing credentials (401), too large (413)."""

from __future__ import annotations

from eucaim.errors import AuthenticationError, EucaimError


class InvalidRequest(EucaimError):
    """The request's parameters or body are malformed; carries the offending parameter."""

    def __init__(self, message: str, *, parameter: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.parameter = parameter


class MissingCredentials(AuthenticationError):
    """The request carries no bearer token at all (as opposed to a token the node refuses)."""


class RequestTooLarge(EucaimError):
    """The request body exceeds the node's configured limit."""
