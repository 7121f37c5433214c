"""The one error the emulator's logic raises: an HTTP status and the message XNAT would send."""

from __future__ import annotations


class HttpError(Exception):
    """Stop handling the request and answer ``status`` with ``message`` as plain text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
