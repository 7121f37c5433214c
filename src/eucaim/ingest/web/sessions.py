"""Signed-in browsers: random session ids held in the server's memory, each with how it signed in.

The cookie carries only a random id (never the start token or a node token); restarting the
server signs everyone out. Sessions end after :data:`MAX_AGE_S` of inactivity.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

MAX_AGE_S = 12 * 3600.0


@dataclass
class Session:
    """One signed-in browser: how it signed in (``token``, ``password`` or ``oidc``) and as whom."""

    method: str
    user: str = ""
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The server's open sessions, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Session] = {}

    def open(self, method: str, user: str = "") -> str:
        """Open a session and return its id (the cookie's value)."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._open[sid] = Session(method, user)
        return sid

    def get(self, sid: str, now: float | None = None) -> Session | None:
        """The live session ``sid``, refreshed; None when unknown or expired."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            session = self._open.get(sid)
            if session is None:
                return None
            if moment - session.last_seen > MAX_AGE_S:
                del self._open[sid]
                return None
            session.last_seen = moment
            return session

    def close(self, sid: str) -> None:
        with self._lock:
            self._open.pop(sid, None)
