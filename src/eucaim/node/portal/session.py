"""Browser sessions of the portal: an API token sealed in an HttpOnly cookie, and CSRF tokens for forms.

The cookie holds the caller's bearer token encrypted and authenticated (Fernet, keyed by a secret
file in the node's data folder, shared by every worker). Each request re-authenticates that token
through the same code the API uses, so a revoked or expired token, or a disabled user, ends the
session at once. The bearer token is an API token pasted in the sign-in form, or the access token
the node's OIDC issuer gave at "Sign in with" (:mod:`eucaim.node.portal.oidc_login`). The cookie is
``HttpOnly`` (no script reads it), ``SameSite=Lax`` and ``Secure`` on HTTPS. Lax, not Strict: the
OIDC sign-in ends with the issuer's cross-site redirect back, and a Strict cookie would not be sent
on the pages that follow it; other sites' forms still cannot post with it, and every form carries a
CSRF token: the session's own when signed in, else a random one in a second cookie (double submit),
compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "eucaim_portal_session"
CSRF_COOKIE = "eucaim_portal_csrf"
COOKIE_PATH = "/portal"
SESSION_HOURS = 8
KEY_FILE = "portal-session.key"
MAX_COOKIE_BYTES = 3800  # browsers keep cookies up to 4096 bytes, name and attributes included


@dataclass(frozen=True)
class SealedSession:
    """What the session cookie carries once opened: the bearer token and the session's CSRF token."""

    token: str
    csrf: str


def load_key(data_dir: Path) -> bytes:
    """Return the session key, creating it (mode 0600) on first use; workers race safely with O_EXCL."""
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def seal(key: bytes, session: SealedSession) -> str:
    """Return the cookie value for ``session``."""
    payload = json.dumps({"t": session.token, "c": session.csrf}).encode("utf-8")
    return Fernet(key).encrypt(payload).decode("ascii")


def open_sealed(key: bytes, value: str | None) -> SealedSession | None:
    """Return the session in a cookie value, or None when absent, forged or older than SESSION_HOURS."""
    if not value:
        return None
    try:
        payload = json.loads(Fernet(key).decrypt(value.encode("ascii"), ttl=SESSION_HOURS * 3600))
    except (InvalidToken, ValueError, UnicodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("t"), str):
        return None
    return SealedSession(token=payload["t"], csrf=str(payload.get("c", "")))


def new_csrf() -> str:
    """Return a fresh CSRF token."""
    return secrets.token_urlsafe(24)


def is_https(request: Request) -> bool:
    """Return True when the browser reached the node over HTTPS, directly or through the public URL.

    Behind a TLS-terminating proxy the request itself is plain HTTP; the node's configured public
    URL (``EUCAIM_NODE_PUBLIC_URL``) then tells that browsers use HTTPS.
    """
    public_url = str(getattr(request.app.state.node.settings, "public_url", None) or "")
    return request.url.scheme == "https" or public_url.startswith("https://")


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def start_session(response: Response, request: Request, key: bytes, token: str) -> None:
    """Set the session cookie for ``token`` with a fresh CSRF token, and drop the anonymous one."""
    _cookie(
        response, request, SESSION_COOKIE, seal(key, SealedSession(token, new_csrf())), SESSION_HOURS * 3600
    )
    response.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)


def end_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")


def anonymous_csrf(request: Request, response: Response | None = None) -> str:
    """Return the anonymous CSRF token of this browser, setting its cookie on ``response`` if new."""
    value = request.cookies.get(CSRF_COOKIE)
    if value:
        return value
    value = getattr(request.state, "new_csrf", None) or new_csrf()
    request.state.new_csrf = value
    if response is not None:
        _cookie(response, request, CSRF_COOKIE, value, None)
    return value


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Return True when the form's CSRF token is the expected one (constant-time comparison)."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
