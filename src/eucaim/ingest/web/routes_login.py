"""Signing in and out: the printed start link, the workspace's password, or the node's OIDC.

Every way in ends the same: a fresh session id in an HttpOnly, SameSite=Strict cookie. Errors are
shown next to the form that caused them; nothing here logs a password or a token.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from eucaim.errors import EucaimError
from eucaim.ingest.web.deps import TEMPLATES, UiSettings, has_workspace, settings_of
from eucaim.ingest.web.messages import text
from eucaim.ingest.web.oidc_signin import SignInStatus, start_sign_in
from eucaim.ingest.web.password import load_password, verify_password

COOKIE = "eucaim_ingest_ui"
SIGN_IN_COOKIE = "eucaim_ingest_signin"

router = APIRouter()


def _node_kind(settings: UiSettings) -> str | None:
    """The workspace's target kind, read from its config (None without a workspace)."""
    if not has_workspace(settings):
        return None
    from eucaim.ingest.config import load_config

    try:
        return load_config(settings.workspace).node.kind
    except EucaimError:
        return None


def login_page(request: Request, status_code: int = 200, **errors: str) -> Response:
    """The sign-in page: the password form when one is set, the node's sign-in, the start token.

    ``errors`` are texts shown next to their form: ``password``, ``oidc`` or ``token``.
    """
    settings = settings_of(request)
    try:
        has_password = load_password(settings.workspace) is not None
    except EucaimError as exc:
        has_password, errors = True, {"password": str(exc), **errors}
    context: dict[str, Any] = {
        "errors": errors,
        "has_password": has_password,
        "offers_oidc": _node_kind(settings) == "eucaim",
    }
    return TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status_code)


def open_session(request: Request, method: str, user: str = "") -> Response:
    """Sign this browser in and send it to the stepper."""
    sid = settings_of(request).sessions.open(method, user)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict")
    return response


@router.get("/login")
def login_get(request: Request, token: str | None = None) -> Response:
    if token is not None:
        return _token_sign_in(request, token)
    return login_page(request)


@router.post("/login")
def login_token(request: Request, token: Annotated[str, Form()] = "") -> Response:
    return _token_sign_in(request, token)


def _token_sign_in(request: Request, token: str) -> Response:
    if not secrets.compare_digest(token.strip().encode(), settings_of(request).token.encode()):
        return login_page(request, 401, token=text("login.bad"))
    return open_session(request, "token")


@router.post("/login/password")
def login_password(request: Request, password: Annotated[str, Form()] = "") -> Response:
    """The workspace's password; a run of failures locks the form for a growing time."""
    settings = settings_of(request)
    now = time.monotonic()
    wait = settings.throttle.wait_s(now)
    if wait > 0:
        return login_page(request, 429, password=text("login.locked", seconds=f"{wait:.0f}"))
    record = load_password(settings.workspace)
    if record is None or not verify_password(password, record):
        settings.throttle.failed(now)
        return login_page(request, 401, password=text("login.bad_password"))
    settings.throttle.succeeded()
    return open_session(request, "password")


@router.post("/login/oidc")
def login_oidc_start(request: Request) -> Response:
    """Start the node's device sign-in; the next page shows where to approve it."""
    settings = settings_of(request)
    if _node_kind(settings) != "eucaim":
        return login_page(request, 422, oidc=text("login.oidc_unavailable"))
    previous = settings.sign_ins.pop(request.cookies.get(SIGN_IN_COOKIE, ""), None)
    if previous is not None:
        previous.cancelled = True
    attempt = start_sign_in(settings.workspace)
    settings.sign_ins[attempt.id] = attempt
    response = RedirectResponse("/login/oidc", status_code=303)
    response.set_cookie(SIGN_IN_COOKIE, attempt.id, httponly=True, samesite="strict", path="/login")
    return response


@router.get("/login/oidc")
def login_oidc_page(request: Request) -> Response:
    """Where the sign-in stands: the code to enter, the refusal, or (approved) the stepper."""
    settings = settings_of(request)
    attempt = settings.sign_ins.get(request.cookies.get(SIGN_IN_COOKIE, ""))
    if attempt is None:
        return RedirectResponse("/login", status_code=303)
    if attempt.status is SignInStatus.APPROVED:
        del settings.sign_ins[attempt.id]
        checks = settings.jobs.last.get("doctor")
        if checks is not None and checks.ended is not None:
            del settings.jobs.last["doctor"]  # they ran with the old token: run them again
        response = open_session(request, "oidc", attempt.user)
        response.delete_cookie(SIGN_IN_COOKIE, path="/login")
        return response
    if attempt.status is SignInStatus.FAILED:
        del settings.sign_ins[attempt.id]
        response = login_page(request, 403, oidc=attempt.error)
        response.delete_cookie(SIGN_IN_COOKIE, path="/login")
        return response
    return TEMPLATES.TemplateResponse(request, "login_oidc.html", {"attempt": attempt})


@router.get("/login/oidc/state")
def login_oidc_state(request: Request) -> JSONResponse:
    """Polled by the waiting page; says only whether the attempt has moved on."""
    attempt = settings_of(request).sign_ins.get(request.cookies.get(SIGN_IN_COOKIE, ""))
    return JSONResponse({"status": attempt.status.value if attempt else None})


@router.post("/login/oidc/cancel")
def login_oidc_cancel(request: Request) -> Response:
    attempt = settings_of(request).sign_ins.pop(request.cookies.get(SIGN_IN_COOKIE, ""), None)
    if attempt is not None:
        attempt.cancelled = True
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SIGN_IN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    settings_of(request).sessions.close(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
