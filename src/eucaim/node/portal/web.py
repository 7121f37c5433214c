"""The portal's request plumbing: templates, the signed-in user, CSRF checks, and errors as pages.

Routes of the portal use :class:`PortalRoute`, which turns the domain errors services raise
(NotFound, PermissionDenied, Conflict, ...) into an HTML page with the same HTTP status the API
would give, and :class:`Redirect` into a 303, so route bodies stay straight-line.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import AuthenticationError, EucaimError, PermissionDenied
from eucaim.node.api.errors import status_for
from eucaim.node.context import NodeContext
from eucaim.node.oidc import looks_like_jwt, verifier_for
from eucaim.node.portal import session as cookies
from eucaim.node.portal.messages import text
from eucaim.node.roles import Role
from eucaim.node.services.tokens import authenticate_bearer

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True
)
_env.globals["t"] = text


@dataclass(frozen=True)
class PortalUser:
    """The signed-in user of a request and their session's CSRF token."""

    user_id: int
    name: str
    role: Role
    csrf: str

    @property
    def is_staff(self) -> bool:
        """Return True for validators and admins."""
        return self.role in (Role.VALIDATOR, Role.ADMIN)


class Redirect(Exception):
    """Leave the page for ``location`` (303), optionally ending the session."""

    def __init__(self, location: str, *, end_session: bool = False) -> None:
        super().__init__(location)
        self.location = location
        self.end_session = end_session


def context_of(request: Request) -> NodeContext:
    """Return the node context of the process."""
    node: NodeContext = request.app.state.node
    return node


def session_key(request: Request) -> bytes:
    """Return the key sealing session cookies (read once per process)."""
    key: bytes | None = getattr(request.app.state, "portal_session_key", None)
    if key is None:
        key = cookies.load_key(context_of(request).settings.data_dir)
        request.app.state.portal_session_key = key
    return key


def current_user(request: Request) -> PortalUser | None:
    """Return the signed-in user, None for anonymous visitors.

    Raises:
        Redirect: to sign-in, when the session's token is no longer accepted (revoked, expired).
    """
    cached: PortalUser | None = getattr(request.state, "portal_user", None)
    if cached is not None:
        return cached
    sealed = cookies.open_sealed(session_key(request), request.cookies.get(cookies.SESSION_COOKIE))
    if sealed is None:
        return None
    node = context_of(request)
    try:
        bearer = authenticate_bearer(
            node.sessions,
            token=sealed.token,
            now=datetime.now(UTC),
            verifier=verifier_for(request.app.state, node.settings.oidc),
        )
    except (AuthenticationError, PermissionDenied) as exc:
        # A code, not the message: a link must not be able to put its own words on the page.
        message = str(exc)
        code = "revoked" if "revoked" in message else "expired" if "expired" in message else "refused"
        if code == "expired" and looks_like_jwt(sealed.token):
            code = "oidc_expired"  # the issuer's access token: "Sign in with" again, not a new API token
        raise Redirect(f"/portal/login?ended={code}", end_session=True) from None
    user = PortalUser(bearer.user_id, bearer.name, bearer.role, sealed.csrf)
    request.state.portal_user = user
    return user


def require_user(request: Request, *roles: Role) -> PortalUser:
    """Return the signed-in user; send anonymous visitors to sign in.

    Raises:
        Redirect: not signed in.
        PermissionDenied: signed in without one of ``roles`` (when given).
    """
    user = current_user(request)
    if user is None:
        raise Redirect(f"/portal/login?next={quote(request.url.path)}")
    if roles and user.role not in roles:
        raise PermissionDenied(
            f"this page is for {' and '.join(r.value for r in roles)} users; you are {user.role.value}"
        )
    return user


def check_csrf(request: Request, given: str | None) -> None:
    """Refuse a form whose CSRF token does not match this browser's session.

    Raises:
        PermissionDenied: missing or wrong token.
    """
    user = current_user(request)
    expected = user.csrf if user is not None else request.cookies.get(cookies.CSRF_COOKIE)
    if not cookies.csrf_matches(expected, given):
        raise PermissionDenied(text("csrf.failed"))


def render(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a page with the signed-in user, the CSRF token and the settings every page needs."""
    try:
        user = current_user(request)
    except Redirect:
        user = None
    values.setdefault("user", user)
    values["csrf"] = user.csrf if user is not None else cookies.anonymous_csrf(request)
    values["threshold"] = context_of(request).settings.suppression_threshold
    values["path"] = request.url.path
    html = _env.get_template(template).render(**values)
    response = HTMLResponse(html, status_code=status_code)
    if user is None:
        cookies.anonymous_csrf(request, response)
    # Pages carry no third-party content: forbid everything else, including framing.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, exc: EucaimError) -> HTMLResponse:
    """Render a domain error as a page with the API's status for it."""
    status = status_for(exc)
    title = {403: "error.forbidden", 404: "error.not_found", 409: "error.conflict"}.get(status, "error.title")
    message = exc.args[0] if exc.args else str(exc)
    return render(
        request, "error.html", status_code=status, title=text(title), message=message, hint=exc.hint
    )


def redirect(location: str) -> RedirectResponse:
    """Return a 303 to ``location`` (after a form post, so a reload does not post again)."""
    return RedirectResponse(location, status_code=303)


class PortalRoute(APIRoute):
    """A route whose domain errors become HTML pages and whose :class:`Redirect` becomes a 303."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Redirect as exc:
                response = redirect(exc.location)
                if exc.end_session:
                    cookies.end_session(response)
                return response
            except EucaimError as exc:
                return error_page(request, exc)

        return portal_handler
