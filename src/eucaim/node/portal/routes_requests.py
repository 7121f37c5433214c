"""A data ingester's biobank requests in the portal: ask for one, and follow the admin's decision.

=========  ===========================  ==============================================
method     path                         what
=========  ===========================  ==============================================
GET        /portal/requests             your requests and the form to make one
POST       /portal/requests             submit (the service behind POST /biobank-requests)
=========  ===========================  ==============================================
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from eucaim.errors import EucaimError
from eucaim.node.api.errors import status_for
from eucaim.node.db import session_scope
from eucaim.node.errors import InvalidRequest
from eucaim.node.portal.web import PortalRoute, check_csrf, context_of, redirect, render, require_user
from eucaim.node.roles import Role
from eucaim.node.services import biobank_requests

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)
FIELDS = ("code", "name", "description", "url")


def _page(request: Request, *, status: int = 200, **extra: Any) -> Response:
    user = require_user(request, Role.DATA_INGESTER)
    node = context_of(request)
    with session_scope(node.sessions) as session:
        mine = biobank_requests.list_requests(session, viewer_id=user.user_id)
    values: dict[str, Any] = {
        "requests": sorted(mine, key=lambda r: -r.id),
        "form": dict.fromkeys(FIELDS, ""),
        "errors": {},
        "sent": request.query_params.get("sent", ""),
    }
    values.update(extra)
    return render(request, "requests.html", status_code=status, **values)


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    """Show the ingester's requests, newest first, with the form for a new one."""
    return _page(request)


@router.post("/requests", response_class=HTMLResponse)
def submit(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
) -> Response:
    """Submit a request; a refused field is named at that field, the form keeps what was typed."""
    user = require_user(request, Role.DATA_INGESTER)
    check_csrf(request, csrf)
    form = {"code": code.strip(), "name": name, "description": description, "url": url.strip()}
    node = context_of(request)
    try:
        with session_scope(node.sessions) as session:
            biobank_requests.submit_request(
                session,
                requester_id=user.user_id,
                code=form["code"],
                name=name,
                description=description,
                url=form["url"] or None,
                now=datetime.now(UTC),
            )
    except EucaimError as exc:
        message = exc.args[0] if exc.args else str(exc)
        if exc.hint:
            message = f"{message} ({exc.hint})"
        field = exc.parameter if isinstance(exc, InvalidRequest) and exc.parameter in FIELDS else "code"
        return _page(request, status=status_for(exc), form=form, errors={field: message})
    return redirect(f"/portal/requests?sent={form['code']}")
