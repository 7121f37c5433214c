"""Portal pages for admins: users and their API tokens (issue, revoke), and biobank requests (decide).

=========  =====================================  =========================================
method     path                                   what
=========  =====================================  =========================================
GET        /portal/admin/users                    users, roles, managed biobanks, tokens
                                                  (their changes: routes_users)
POST       /portal/admin/tokens                   issue a token for a user (shown once)
POST       /portal/admin/tokens/{id}/revoke       revoke a token
GET        /portal/admin/requests                 biobank requests, pending first
POST       /portal/admin/requests/{id}/approve    approve: the biobank is created
POST       /portal/admin/requests/{id}/decline    decline with a reason
=========  =====================================  =========================================

Each action calls the service the CLI and the API call (tokens, biobank_requests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from eucaim.errors import EucaimError
from eucaim.node.api.errors import status_for
from eucaim.node.db import session_scope
from eucaim.node.models_accounts import RequestStatus
from eucaim.node.portal.messages import text
from eucaim.node.portal.overview import biobank_codes, list_users
from eucaim.node.portal.web import PortalRoute, check_csrf, context_of, redirect, render, require_user
from eucaim.node.roles import Role
from eucaim.node.services import biobank_requests, tokens

router = APIRouter(prefix="/portal/admin", route_class=PortalRoute, include_in_schema=False)

DONE = ("created", "role", "biobanks", "enabled", "disabled")


def error_message(exc: EucaimError) -> str:
    """Return a domain error as one line: what, and (in brackets) what to do."""
    message = exc.args[0] if exc.args else str(exc)
    return f"{message} ({exc.hint})" if exc.hint else message


def users_page_response(request: Request, *, status: int = 200, **extra: Any) -> Response:
    """Render the users page; ``extra`` carries errors (``errors``, ``user_errors``) and form values."""
    require_user(request, Role.ADMIN)
    node = context_of(request)
    now = datetime.now(UTC)
    with session_scope(node.sessions) as session:
        users = list_users(session)
        listed = tokens.list_tokens(session)
        codes = biobank_codes(session)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for info in listed:
        by_user.setdefault(info.user, []).append({"info": info, "state": info.state(now)})
    values: dict[str, Any] = {
        "users": users,
        "tokens": by_user,
        "biobanks": codes,
        "roles": [r.value for r in Role],
        "errors": {},
        "user_errors": {},
        "issued": None,
        "notice": "",
        "new": {"name": "", "role": Role.DATA_INGESTER.value, "biobanks": []},
    }
    done, name = extra.pop("done", ("", ""))
    values.update(extra)
    # Named only when it is a user: a link must not be able to put its own words on the page.
    if done in DONE and any(u.name == name for u in users):
        values["notice"] = text(f"users.done.{done}", user=name)
    values.setdefault("form", {"user": "", "ttl": "90d"})
    return render(request, "admin_users.html", status_code=status, **values)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request) -> Response:
    """List users with their roles, biobanks and tokens."""
    params = request.query_params
    revoked, done, name = params.get("revoked", ""), params.get("done", ""), params.get("user", "")
    notice = text("users.revoked", prefix=revoked) if revoked else ""
    # A new user is the natural choice for a first token.
    form = {"user": name if done == "created" else "", "ttl": "90d"}
    return users_page_response(request, notice=notice, form=form, done=(done, name))


@router.post("/tokens", response_class=HTMLResponse)
def issue_token(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    user: Annotated[str, Form()] = "",
    ttl: Annotated[str, Form()] = "90d",
) -> Response:
    """Issue a token; it is shown on the page that answers this post, and never again."""
    require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    form = {"user": user, "ttl": ttl}
    try:
        lifetime = tokens.parse_duration(ttl)
    except ValueError as exc:
        return users_page_response(request, status=400, errors={"ttl": str(exc)}, form=form)
    node = context_of(request)
    try:
        with session_scope(node.sessions) as session:
            issued = tokens.create_token(session, user_name=user.strip(), now=datetime.now(UTC), ttl=lifetime)
    except EucaimError as exc:
        return users_page_response(
            request, status=status_for(exc), errors={"user": error_message(exc)}, form=form
        )
    return users_page_response(request, issued={"user": issued.info.user, "token": issued.token}, form=form)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Revoke a token and go back to the list."""
    require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    node = context_of(request)
    with session_scope(node.sessions) as session:
        info = tokens.revoke_token(session, token_id=token_id, now=datetime.now(UTC))
    return redirect(f"/portal/admin/users?revoked={info.prefix}")


def _requests_page(request: Request, *, status: int = 200, **extra: Any) -> Response:
    admin = require_user(request, Role.ADMIN)
    node = context_of(request)
    with session_scope(node.sessions) as session:
        rows = biobank_requests.list_requests(session, viewer_id=admin.user_id)
    rows.sort(key=lambda r: (r.status is not RequestStatus.PENDING, -r.id))
    values: dict[str, Any] = {"requests": rows, "error": "", "error_id": None, "notice": ""}
    values.update(extra)
    return render(request, "admin_requests.html", status_code=status, **values)


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    """List biobank requests, pending ones first."""
    done = request.query_params.get("approved") or request.query_params.get("declined")
    key = "requests.approved" if request.query_params.get("approved") else "requests.declined"
    return _requests_page(request, notice=text(key, code=done) if done else "")


@router.post("/requests/{request_id}/{decision}", response_class=HTMLResponse)
def decide_request(
    request_id: int,
    decision: str,
    request: Request,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve or decline a pending request; a refusal shows next to that request's forms."""
    admin = require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    node = context_of(request)
    now = datetime.now(UTC)
    try:
        with session_scope(node.sessions) as session:
            if decision == "approve":
                view = biobank_requests.approve_request(
                    session, decider_id=admin.user_id, request_id=request_id, now=now
                )
            elif decision == "decline":
                view = biobank_requests.decline_request(
                    session, decider_id=admin.user_id, request_id=request_id, reason=reason, now=now
                )
            else:
                return _requests_page(
                    request, status=404, error=f"unknown decision {decision!r}", error_id=request_id
                )
    except EucaimError as exc:
        return _requests_page(request, status=status_for(exc), error=error_message(exc), error_id=request_id)
    key = "approved" if decision == "approve" else "declined"
    return redirect(f"/portal/admin/requests?{key}={view.code}")
