"""Portal sign-in at the node's OIDC issuer: authorization code flow with PKCE (S256), state and nonce.

The flow's secrets (state, nonce, PKCE code verifier, where to go next) wait in a short-lived
cookie sealed with the portal's session key, so any worker can finish a sign-in another started
and nothing is kept on the server. ``state`` ties the answer to this browser (no login CSRF),
``nonce`` ties the ID token to this sign-in (no replayed token), the code verifier ties the code to
this client (a stolen code is useless). The access token the issuer gives is then checked exactly
as the API checks a bearer JWT (:func:`eucaim.node.services.tokens.authenticate_bearer`): issuer,
audience, signature, expiry, and the same claim → role and biobank mapping.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken

from eucaim.errors import AuthenticationError, ConfigError, TransientError
from eucaim.node.oidc import OidcVerifier
from eucaim.node.oidc_keys import discovery_url
from eucaim.node.oidc_settings import OidcSettings

logger = logging.getLogger(__name__)

FLOW_COOKIE = "eucaim_portal_oidc"
FLOW_PATH = "/portal/login/oidc"
CALLBACK_PATH = "/portal/login/oidc/callback"
FLOW_SECONDS = 600  # time a person has at the identity provider
FETCH_TIMEOUT_S = 10.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in this browser started: what the answer must match, and where to go after."""

    state: str
    nonce: str
    verifier: str
    next: str


@dataclass(frozen=True)
class Endpoints:
    """The issuer's endpoints for the code flow, from its discovery document."""

    authorization: str
    token: str


def issuer_name(issuer: str | None) -> str:
    """Return how the sign-in button names the issuer: its host."""
    return urlsplit(issuer or "").hostname or "OIDC"


def new_pending(next_path: str) -> PendingSignIn:
    """Return fresh random state, nonce and PKCE code verifier (43+ characters, RFC 7636)."""
    return PendingSignIn(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),
        next=next_path,
    )


def code_challenge(verifier: str) -> str:
    """Return the S256 challenge of a code verifier: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def seal_pending(key: bytes, pending: PendingSignIn) -> str:
    """Return the flow cookie's value."""
    payload = {"s": pending.state, "n": pending.nonce, "v": pending.verifier, "x": pending.next}
    return Fernet(key).encrypt(json.dumps(payload).encode("utf-8")).decode("ascii")


def open_pending(key: bytes, value: str | None) -> PendingSignIn | None:
    """Return the pending sign-in of a flow cookie; None when absent, forged or older than FLOW_SECONDS."""
    if not value:
        return None
    try:
        payload = json.loads(Fernet(key).decrypt(value.encode("ascii"), ttl=FLOW_SECONDS))
        return PendingSignIn(
            state=str(payload["s"]),
            nonce=str(payload["n"]),
            verifier=str(payload["v"]),
            next=str(payload["x"]),
        )
    except (InvalidToken, ValueError, UnicodeError, KeyError, TypeError):
        return None


def authorization_url(
    endpoints: Endpoints, settings: OidcSettings, *, redirect_uri: str, pending: PendingSignIn
) -> str:
    """Return where the browser goes to sign in at the issuer."""
    scopes = settings.scopes.split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")  # without it there is no ID token, hence no nonce check
    query = {
        "response_type": "code",
        "client_id": settings.client_id or "",
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": code_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in endpoints.authorization else "?"
    return endpoints.authorization + separator + urlencode(query)


def _is_safe_endpoint(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK)


def discover(client: httpx.Client, issuer: str) -> Endpoints:
    """Return the issuer's authorization and token endpoints.

    Raises:
        TransientError: the issuer cannot be reached or sends no discovery document.
        ConfigError: the document names another issuer, lacks an endpoint, or gives a plain-HTTP one.
    """
    url = discovery_url(issuer)
    try:
        response = client.get(url, headers={"Accept": "application/json"})
        document = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise TransientError(f"cannot read the OIDC issuer's discovery document at {url}") from exc
    if not isinstance(document, dict):
        raise TransientError(f"the OIDC issuer answered no discovery document at {url}", status_code=503)
    if document.get("issuer") != issuer:
        raise ConfigError(
            f"the discovery document of {issuer} names issuer {document.get('issuer')!r}",
            hint="set EUCAIM_NODE_OIDC_ISSUER to exactly the issuer's 'iss' value",
        )
    found = {k: document.get(f"{k}_endpoint") for k in ("authorization", "token")}
    for name, value in found.items():
        if not isinstance(value, str) or not _is_safe_endpoint(value):
            raise ConfigError(
                f"the OIDC issuer {issuer} gives no usable {name}_endpoint ({value!r})",
                hint="the portal needs an https authorization and token endpoint (authorization code flow)",
            )
    return Endpoints(authorization=str(found["authorization"]), token=str(found["token"]))


def exchange_code(
    client: httpx.Client,
    endpoints: Endpoints,
    settings: OidcSettings,
    *,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> dict[str, Any]:
    """Trade the authorization code (with the PKCE verifier) for the issuer's tokens.

    Raises:
        AuthenticationError: the issuer refuses the code (used, expired, or not this client's).
        TransientError: the issuer cannot be reached.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.client_id or "",
        "code_verifier": verifier,
    }
    try:
        response = client.post(endpoints.token, data=form, headers={"Accept": "application/json"})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise TransientError(f"cannot reach the OIDC issuer's token endpoint {endpoints.token}") from exc
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        error = body.get("error") if isinstance(body, dict) else None
        raise AuthenticationError(
            f"the OIDC issuer refused the sign-in code ({error or response.status_code})",
            status_code=401,
            hint="start the sign-in again",
        )
    logger.info("portal OIDC code exchanged at the issuer's token endpoint")
    return body


def check_id_token(verifier: OidcVerifier, settings: OidcSettings, id_token: object, *, nonce: str) -> None:
    """Verify the ID token (signature, issuer, audience = our client id, expiry) and its nonce.

    Raises:
        AuthenticationError: no ID token, a bad one, or one minted for another sign-in.
    """
    if not isinstance(id_token, str):
        raise AuthenticationError("the OIDC issuer sent no ID token", status_code=401)
    audience = settings.client_id or verifier.audience
    # The same verification code as for access tokens, with the client id as audience and the
    # same cached keys.
    id_verifier = OidcVerifier(settings.model_copy(update={"audience": audience}), keys=verifier.keys)
    claims = id_verifier.verify(id_token)
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise AuthenticationError("the ID token belongs to another sign-in (nonce mismatch)", status_code=401)


def http_client() -> httpx.Client:
    """Return the client for the issuer: no redirects followed (endpoints come from discovery)."""
    return httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False)
