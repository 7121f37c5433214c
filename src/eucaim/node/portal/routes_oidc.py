"""Portal pages of the OIDC sign-in: go to the issuer, and come back with a code.

=========  ============================  ==================================================
method     path                          what
=========  ============================  ==================================================
GET        /portal/login/oidc            start: seal state, nonce, PKCE verifier; go to the
                                         issuer's authorization endpoint
GET        /portal/login/oidc/callback   the issuer's answer: check state, trade the code,
                                         check the ID token's nonce and the access token as
                                         the API does; start the session
=========  ============================  ==================================================

Every refusal is shown on the sign-in page, next to the "Sign in with" button, with what to do;
the issuer's own error text is never put on the page (a link could carry any words), only its
error code when it looks like one.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from eucaim.errors import AuthenticationError, ConfigError, PermissionDenied, TransientError
from eucaim.node.oidc import looks_like_jwt, verifier_for
from eucaim.node.portal import oidc_login
from eucaim.node.portal import session as cookies
from eucaim.node.portal.messages import text
from eucaim.node.portal.routes_public import login_page, safe_next
from eucaim.node.portal.web import PortalRoute, context_of, redirect, session_key
from eucaim.node.services.tokens import authenticate_bearer

logger = logging.getLogger(__name__)

router = APIRouter(prefix=oidc_login.FLOW_PATH, route_class=PortalRoute, include_in_schema=False)

_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


def _redirect_uri(request: Request) -> str:
    public_url = context_of(request).settings.public_url
    base = public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")
    return base + oidc_login.CALLBACK_PATH


def _refused(request: Request, message: str, *, status: int, next_path: str = "/portal/me") -> Response:
    response = login_page(request, status=status, next_path=next_path, errors={"oidc": message})
    response.delete_cookie(oidc_login.FLOW_COOKIE, path=oidc_login.FLOW_PATH)
    return response


@router.get("", response_class=HTMLResponse)
def start(request: Request, next: str = "/portal/me") -> Response:
    """Send the browser to the issuer with a fresh state, nonce and PKCE challenge."""
    settings = context_of(request).settings.oidc
    if not settings.enabled or not settings.client_id or not settings.issuer:
        return _refused(request, text("oidc.not_configured"), status=404)
    pending = oidc_login.new_pending(safe_next(next))
    try:
        with oidc_login.http_client() as client:
            endpoints = oidc_login.discover(client, settings.issuer)
    except (TransientError, ConfigError) as exc:
        logger.warning("portal OIDC sign-in cannot start: %s", exc.args[0] if exc.args else exc)
        return _refused(request, text("oidc.unreachable", issuer=settings.issuer), status=503)
    target = oidc_login.authorization_url(
        endpoints, settings, redirect_uri=_redirect_uri(request), pending=pending
    )
    response = redirect(target)
    response.set_cookie(
        oidc_login.FLOW_COOKIE,
        oidc_login.seal_pending(session_key(request), pending),
        max_age=oidc_login.FLOW_SECONDS,
        path=oidc_login.FLOW_PATH,
        httponly=True,
        samesite="lax",  # sent back on the issuer's top-level redirect to the callback
        secure=cookies.is_https(request),
    )
    return response


@router.get("/callback", response_class=HTMLResponse)
def callback(request: Request) -> Response:
    """Finish the sign-in the issuer answered; refuse, saying why, anything that does not match."""
    node = context_of(request)
    settings = node.settings.oidc
    params = request.query_params
    pending = oidc_login.open_pending(session_key(request), request.cookies.get(oidc_login.FLOW_COOKIE))
    if pending is None:
        return _refused(request, text("oidc.no_pending"), status=400)
    error = params.get("error", "")
    if error:
        code = error if _ERROR_CODE.match(error) else "error"
        key = "oidc.declined" if code == "access_denied" else "oidc.issuer_error"
        return _refused(request, text(key, code=code), status=401, next_path=pending.next)
    if not secrets.compare_digest(params.get("state", ""), pending.state):
        return _refused(request, text("oidc.bad_state"), status=400, next_path=pending.next)
    code = params.get("code", "")
    if not code or not settings.issuer:
        return _refused(request, text("oidc.no_code"), status=400, next_path=pending.next)
    verifier = verifier_for(request.app.state, settings)
    if verifier is None:
        return _refused(request, text("oidc.not_configured"), status=404)
    try:
        with oidc_login.http_client() as client:
            endpoints = oidc_login.discover(client, settings.issuer)
            tokens = oidc_login.exchange_code(
                client,
                endpoints,
                settings,
                code=code,
                redirect_uri=_redirect_uri(request),
                verifier=pending.verifier,
            )
        oidc_login.check_id_token(verifier, settings, tokens.get("id_token"), nonce=pending.nonce)
        access_token = str(tokens["access_token"])
        if not looks_like_jwt(access_token):
            # An opaque token would be taken for an API token and refused as "unknown".
            raise AuthenticationError(
                "the issuer's access token is not a JWT; the node verifies JWT access tokens only "
                "(ask the node's operator to have the issuer send JWT access tokens for this client)",
                status_code=401,
            )
        bearer = authenticate_bearer(
            node.sessions, token=access_token, now=datetime.now(UTC), verifier=verifier
        )
    except (AuthenticationError, PermissionDenied) as exc:
        message = exc.args[0] if exc.args else str(exc)
        return _refused(request, text("oidc.refused", reason=message), status=401, next_path=pending.next)
    except (TransientError, ConfigError):
        return _refused(
            request, text("oidc.unreachable", issuer=settings.issuer), status=503, next_path=pending.next
        )
    sealed = cookies.seal(session_key(request), cookies.SealedSession(access_token, cookies.new_csrf()))
    if len(sealed) > cookies.MAX_COOKIE_BYTES:
        return _refused(request, text("oidc.too_large"), status=401, next_path=pending.next)
    logger.info("portal OIDC sign-in of user id=%d (%s)", bearer.user_id, bearer.role.value)
    response = redirect(pending.next)
    cookies.start_session(response, request, session_key(request), access_token)
    response.delete_cookie(oidc_login.FLOW_COOKIE, path=oidc_login.FLOW_PATH)
    return response
