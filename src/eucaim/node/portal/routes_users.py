"""Portal pages for admins: create users, change their role and biobanks, disable and enable them.

=========  =================================  =============================================
method     path                               what
=========  =================================  =============================================
POST       /portal/admin/users                create a user (name, role, managed biobanks)
POST       /portal/admin/users/role           change a user's role
POST       /portal/admin/users/biobanks       set the biobanks a user manages
POST       /portal/admin/users/active         disable or enable a user
=========  =================================  =============================================

The list itself is ``GET /portal/admin/users`` (:mod:`eucaim.node.portal.routes_admin`). Each
action calls the service `eucaim-node user` calls (:mod:`eucaim.node.services.accounts`,
:mod:`eucaim.node.services.users`); every form carries the session's CSRF token, and a refusal is
shown next to the form that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from eucaim.errors import EucaimError, NotFound
from eucaim.node.api.errors import status_for
from eucaim.node.db import session_scope
from eucaim.node.errors import InvalidRequest
from eucaim.node.portal.routes_admin import error_message, users_page_response
from eucaim.node.portal.web import PortalRoute, check_csrf, context_of, redirect, require_user
from eucaim.node.roles import Role
from eucaim.node.services import accounts, users

router = APIRouter(prefix="/portal/admin/users", route_class=PortalRoute, include_in_schema=False)


def _role(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def _done(notice: str, name: str) -> Response:
    return redirect("/portal/admin/users?" + urlencode({"done": notice, "user": name}))


def _change(request: Request, user: str, form: str, change: Callable[[Session], object]) -> Response | None:
    """Run ``change`` in one transaction; on refusal, the users page with the reason beside ``form``."""
    try:
        with session_scope(context_of(request).sessions) as session:
            change(session)
    except EucaimError as exc:
        return users_page_response(
            request, status=status_for(exc), user_errors={user: (form, error_message(exc))}
        )
    return None


@router.post("", response_class=HTMLResponse)
def create_user(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    biobank: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a user with a role and the biobanks they manage; tokens are issued separately."""
    require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    codes = biobank or []
    form = {"name": name, "role": role, "biobanks": codes}
    chosen = _role(role)
    if chosen is None:
        return users_page_response(
            request, status=400, errors={"new-role": f"unknown role {role!r}"}, new=form
        )
    try:
        with session_scope(context_of(request).sessions) as session:
            user = accounts.create_user(session, name=name, role=chosen)
            users.set_biobanks(session, name=user.name, codes=codes)
            created = user.name
    except ValueError as exc:
        return users_page_response(request, status=400, errors={"new-name": str(exc)}, new=form)
    except EucaimError as exc:
        # The user was just made, so a NotFound is one of the chosen biobanks.
        key = "new-biobanks" if isinstance(exc, NotFound) else "new-name"
        return users_page_response(
            request, status=status_for(exc), errors={key: error_message(exc)}, new=form
        )
    return _done("created", created)


@router.post("/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    user: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """Give a user another role (not the last admin's, not an OIDC user's)."""
    require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    chosen = _role(role)

    def change(session: Session) -> None:
        if chosen is None:
            raise InvalidRequest(f"unknown role {role!r}")
        users.set_role(session, name=user, role=chosen)

    return _change(request, user, "role", change) or _done("role", user)


@router.post("/biobanks", response_class=HTMLResponse)
def change_biobanks(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    user: Annotated[str, Form()] = "",
    biobank: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Set the biobanks a user manages (an empty choice removes them all)."""
    require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    refused = _change(
        request, user, "biobanks", lambda session: users.set_biobanks(session, name=user, codes=biobank or [])
    )
    return refused or _done("biobanks", user)


@router.post("/active", response_class=HTMLResponse)
def change_active(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    user: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    """Disable (``active=0``) or enable (``active=1``) a user; their tokens stop or start working."""
    admin = require_user(request, Role.ADMIN)
    check_csrf(request, csrf)
    refused = _change(
        request, user, "active", lambda session: users.set_active(session, name=user, active=active == "1")
    )
    if refused is not None:
        return refused
    if user == admin.name and active != "1":
        # Disabling oneself ends one's own session at the next request: say where one went.
        return redirect("/portal/login?ended=refused")
    return _done("enabled" if active == "1" else "disabled", user)
