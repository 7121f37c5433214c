"""Portal pages anyone may open: the catalogue with its filters, a dataset's page, sign in and out.

=========  ===========================  ==============================================
method     path                         what
=========  ===========================  ==============================================
GET        /portal/                     published datasets, filtered by aggregated fields
GET        /portal/datasets/{id}        one published dataset: metadata, charts, exports
GET        /portal/login                the sign-in form (API token; "Sign in with" the issuer)
POST       /portal/login                sign in with an API token (session cookie)
POST       /portal/logout               end the session
=========  ===========================  ==============================================

The OIDC sign-in's own pages are in :mod:`eucaim.node.portal.routes_oidc`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.catalogue.search import SearchError
from eucaim.errors import AuthenticationError, PermissionDenied
from eucaim.node.db import session_scope
from eucaim.node.errors import InvalidRequest
from eucaim.node.oidc import verifier_for
from eucaim.node.portal import session as cookies
from eucaim.node.portal.figures import figures
from eucaim.node.portal.messages import text
from eucaim.node.portal.oidc_login import issuer_name
from eucaim.node.portal.web import (
    PortalRoute,
    check_csrf,
    context_of,
    current_user,
    redirect,
    render,
    session_key,
)
from eucaim.node.services import catalogue
from eucaim.node.services.tokens import authenticate_bearer

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)

ENDED = ("revoked", "expired", "refused", "oidc_expired")
FACETS = ("modality", "bodyPart", "sex", "diagnosis")
NUMBERS = ("minAge", "maxAge", "year")


def _number(raw: str, errors: dict[str, str], name: str) -> float | None:
    if not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        errors[name] = text("catalogue.bad_number")
        return None


def _ast(chosen: dict[str, str], numbers: dict[str, float | None]) -> dict[str, Any]:
    """Return the federated-search AST for the chosen filters (the same one GET /catalogue/search builds)."""
    children: list[dict[str, Any]] = [{"key": k, "type": "IN", "value": [v]} for k, v in chosen.items() if v]
    if numbers["minAge"] is not None or numbers["maxAge"] is not None:
        children.append(
            {"key": "age", "type": "BETWEEN", "value": {"min": numbers["minAge"], "max": numbers["maxAge"]}}
        )
    if numbers["year"] is not None:
        children.append({"key": "year", "type": "EQUALS", "value": numbers["year"]})
    return {"operand": "AND", "children": children}


@router.get("/", response_class=HTMLResponse)
def catalogue_page(request: Request) -> Response:
    """List published datasets, narrowed by the filters in the query string."""
    node = context_of(request)
    threshold = node.settings.suppression_threshold
    params = request.query_params
    chosen = {k: params.get(k, "").strip() for k in FACETS}
    errors: dict[str, str] = {}
    numbers = {k: _number(params.get(k, ""), errors, k) for k in NUMBERS}
    with session_scope(node.sessions) as session:
        views = catalogue.list_published(session, threshold=threshold)
        options = {
            k: sorted({r["label"] for v in views for r in v["aggregates"][k]} - {"Unknown"}) for k in FACETS
        }
        filtered = any(chosen.values()) or any(v is not None for v in numbers.values())
        if filtered and not errors:
            try:
                found = catalogue.search(session, ast=_ast(chosen, numbers), threshold=threshold)
            except SearchError as exc:
                raise InvalidRequest(f"search: {exc}") from exc
            ids = {c["id"] for c in found["collections"]}
            views = [v for v in views if v["id"] in ids]
    values = {k: params.get(k, "") for k in (*FACETS, *NUMBERS)}
    return render(
        request,
        "catalogue.html",
        datasets=views,
        options=options,
        values=values,
        errors=errors,
        filtered=filtered,
    )


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def public_dataset(dataset_id: str, request: Request) -> Response:
    """Show a published dataset's metadata and aggregated statistics as charts."""
    node = context_of(request)
    threshold = node.settings.suppression_threshold
    with session_scope(node.sessions) as session:
        view = catalogue.get_published(session, dataset_id=dataset_id, threshold=threshold)
    return render(
        request, "public_dataset.html", dataset=view, figures=figures(view["aggregates"], threshold=threshold)
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/portal/me", ended: str = "", signed_out: str = "") -> Response:
    """Show the sign-in form (and why a session ended, if it did)."""
    notice = (
        text(f"signin.ended.{ended}") if ended in ENDED else text("signin.signed_out") if signed_out else ""
    )
    return login_page(request, next_path=next, notice=notice)


def login_page(
    request: Request,
    *,
    status: int = 200,
    next_path: str = "/portal/me",
    notice: str = "",
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render the sign-in page: the API token form, and "Sign in with" when the node has an issuer."""
    oidc = context_of(request).settings.oidc
    return render(
        request,
        "login.html",
        status_code=status,
        next=safe_next(next_path),
        notice=notice,
        errors=errors or {},
        oidc_name=issuer_name(oidc.issuer) if oidc.enabled and oidc.client_id else "",
    )


def safe_next(target: str) -> str:
    """Return ``target`` when it is a portal path, else the home page (no open redirect)."""
    return target if target.startswith("/portal/") and not target.startswith("//") else "/portal/me"


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/portal/me",
) -> Response:
    """Check the token exactly as the API does; on success start the session and go on."""
    check_csrf(request, csrf)
    token = token.strip()
    errors: dict[str, str] = {}
    node = context_of(request)
    if not token:
        errors["token"] = text("signin.missing")
    else:
        try:
            authenticate_bearer(
                node.sessions,
                token=token,
                now=datetime.now(UTC),
                verifier=verifier_for(request.app.state, node.settings.oidc),
            )
        except (AuthenticationError, PermissionDenied) as exc:
            errors["token"] = exc.args[0] if exc.args else str(exc)
    if errors:
        return login_page(request, status=401, next_path=next, errors=errors)
    response = redirect(safe_next(next))
    cookies.start_session(response, request, session_key(request), token)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
    """End the session (the API token itself stays valid)."""
    if current_user(request) is not None:
        check_csrf(request, csrf)
    response = redirect("/portal/login?signed_out=1")
    cookies.end_session(response)
    return response
