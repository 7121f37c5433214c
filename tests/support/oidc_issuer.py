"""A tiny OIDC issuer for tests, on loopback: discovery, JWKS, device authorization and token endpoints.

It signs RS256 access tokens with a key generated at start (kid ``k1``), so the node under test
verifies real JWTs against a real JWKS over HTTP::

    from tests.support.oidc_issuer import running_issuer

    with running_issuer(client_id="eucaim-cli") as issuer:
        token = issuer.mint(sub="u1", roles=["data-ingester"], groups=["PROJECT-bb1"])
        bad = issuer.mint(sub="u1", aud="someone-else")          # any claim can be overridden
        stray = issuer.mint(sub="u1", key="unknown")              # signed by a key the JWKS lacks

Device flow (RFC 8628): ``POST /device`` gives a device code and a user code; ``POST /token`` with
the device grant answers ``authorization_pending`` until the user approves, ``slow_down`` when
polled faster than the interval (or when ``force_slow_down`` asks for it), then the tokens. The
test plays the user: ``issuer.approve(user_code, sub=..., roles=...)`` (or ``POST /verify`` with
``user_code`` as a browser would), or ``issuer.deny(user_code)``. ``refresh_token`` grants give a
new access token. ``issuer.jwks_fetches`` counts JWKS downloads (for the node's key cache);
``issuer.rotate()`` replaces the signing key (new kid) as a real issuer does.

Authorization code flow with PKCE (RFC 6749 + RFC 7636), for the portal's "Sign in with": ``GET
/authorize`` plays a user who approves at once with the claims in ``issuer.authorize_claims`` (None:
the user declines, ``error=access_denied``) and redirects to ``redirect_uri`` with a code and the
``state``; ``POST /token`` with ``grant_type=authorization_code`` checks the client, the redirect
URI and the S256 code verifier, and answers an access token, a refresh token and an ID token
carrying the ``nonce`` (``issuer.id_token_claims`` overrides the ID token's claims;
``issuer.opaque_access_tokens`` makes the access token a random string, as some issuers do)::

    issuer.authorize_claims = {"sub": "aai-7", "preferred_username": "vic", "roles": ["validator"]}
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CODE_GRANT = "authorization_code"


@dataclass
class _DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    expires_at: float
    interval: int
    last_poll: float = 0.0
    approved_claims: dict[str, Any] | None = None
    denied: bool = False


@dataclass
class _AuthCode:
    claims: dict[str, Any]
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    expires_at: float


@dataclass
class OidcIssuer:
    """The issuer's state; its URL is ``url`` (also the ``iss`` of every token)."""

    url: str = ""
    client_id: str = "eucaim-cli"
    audience: str = "eucaim-node"
    access_ttl_s: int = 300
    interval: int = 1
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    current_kid: str = "k1"
    jwks_fetches: int = 0
    token_requests: int = 0
    force_slow_down: int = 0
    enforce_interval: bool = True  # off: tests that poll with a fake clock
    grants: dict[str, _DeviceGrant] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    authorize_claims: dict[str, Any] | None = None  # what /authorize approves with; None: declines
    id_token_claims: dict[str, Any] = field(default_factory=dict)  # overrides in the ID token
    auth_codes: dict[str, _AuthCode] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    opaque_access_tokens: bool = False  # the code grant answers a non-JWT access token

    def __post_init__(self) -> None:
        self.keys[self.current_kid] = _new_key()

    # --- what tests call -------------------------------------------------------------------

    def mint(self, *, key: str | None = None, **claims: Any) -> str:
        """Return a signed access token; defaults: iss, aud, iat, nbf, exp (+access_ttl_s), sub."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl_s,
            "sub": "subject-1",
            "jti": secrets.token_hex(8),
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        kid = key or self.current_kid
        signing_key = self.keys.get(kid) or _new_key()  # an unknown kid: a key nobody publishes
        return jwt.encode(body, signing_key, algorithm="RS256", headers={"kid": kid})

    def rotate(self) -> str:
        """Start signing with a new key (kept in the JWKS next to the old one); return its kid."""
        self.current_kid = f"k{len(self.keys) + 1}"
        self.keys[self.current_kid] = _new_key()
        return self.current_kid

    def pending_user_codes(self) -> list[str]:
        """Return the user codes waiting for the user."""
        with self.lock:
            return [g.user_code for g in self.grants.values() if g.approved_claims is None and not g.denied]

    def wait_for_user_code(self, timeout: float = 10.0) -> str:
        """Block until a device authorization is pending and return its user code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = self.pending_user_codes()
            if codes:
                return codes[0]
            time.sleep(0.02)
        raise TimeoutError("no device authorization was started")

    def approve(self, user_code: str, **claims: Any) -> None:
        """Play the user: approve ``user_code``; the tokens will carry ``claims``."""
        with self.lock:
            grant = next(g for g in self.grants.values() if g.user_code == user_code)
            grant.approved_claims = claims

    def deny(self, user_code: str) -> None:
        """Play the user: refuse ``user_code``."""
        with self.lock:
            next(g for g in self.grants.values() if g.user_code == user_code).denied = True

    # --- the HTTP side ----------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device",
            "authorization_endpoint": f"{self.url}/authorize",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": [DEVICE_GRANT, "refresh_token", CODE_GRANT],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        self.jwks_fetches += 1
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
            keys.append(jwk)
        return {"keys": keys}

    def device_authorization(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        grant = _DeviceGrant(
            device_code=secrets.token_urlsafe(24),
            user_code=f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}",
            client_id=self.client_id,
            expires_at=time.time() + 600,
            interval=self.interval,
        )
        with self.lock:
            self.grants[grant.device_code] = grant
        return 200, {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": f"{self.url}/verify",
            "verification_uri_complete": f"{self.url}/verify?user_code={grant.user_code}",
            "expires_in": 600,
            "interval": grant.interval,
        }

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "refresh_token":
            claims = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if claims is None:
                return 400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
            return 200, self._tokens(claims)
        if form.get("grant_type") == CODE_GRANT:
            return self._code_token(form)
        if form.get("grant_type") != DEVICE_GRANT:
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.grants.get(form.get("device_code", ""))
            if grant is None:
                return 400, {"error": "invalid_grant"}
            now = time.time()
            too_fast = self.enforce_interval and now - grant.last_poll < grant.interval - 0.05
            grant.last_poll = now
            if self.force_slow_down > 0 or too_fast:
                self.force_slow_down = max(0, self.force_slow_down - 1)
                grant.interval += 5
                return 400, {"error": "slow_down"}
            if now > grant.expires_at:
                return 400, {"error": "expired_token"}
            if grant.denied:
                return 400, {"error": "access_denied"}
            if grant.approved_claims is None:
                return 400, {"error": "authorization_pending"}
            del self.grants[grant.device_code]
            return 200, self._tokens(grant.approved_claims)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        """Answer ``GET /authorize``: a redirect URL (302) or an error that must not redirect (400)."""
        with self.lock:
            self.authorize_requests.append(dict(query))
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or urlsplit(redirect_uri).scheme not in ("http", "https"):
            return 400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"}
        state = {"state": query["state"]} if "state" in query else {}
        if query.get("response_type") != "code":
            return 302, f"{redirect_uri}?{urlencode({'error': 'unsupported_response_type', **state})}"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 302, f"{redirect_uri}?{urlencode({'error': 'invalid_request', **state})}"
        if self.authorize_claims is None:
            return 302, f"{redirect_uri}?{urlencode({'error': 'access_denied', **state})}"
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.auth_codes[code] = _AuthCode(
                claims=dict(self.authorize_claims),
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                challenge=query["code_challenge"],
                nonce=query.get("nonce"),
                expires_at=time.time() + 60,
            )
        return 302, f"{redirect_uri}?{urlencode({'code': code, **state})}"

    def _code_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            grant = self.auth_codes.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            grant is None
            or time.time() > grant.expires_at
            or form.get("redirect_uri") != grant.redirect_uri
            or digest != grant.challenge
        ):
            return 400, {"error": "invalid_grant"}
        id_claims = {**grant.claims, "aud": self.client_id, "nonce": grant.nonce, **self.id_token_claims}
        answer = {**self._tokens(grant.claims), "id_token": self.mint(**id_claims)}
        if self.opaque_access_tokens:
            answer["access_token"] = secrets.token_urlsafe(32)
        return 200, answer

    def _tokens(self, claims: dict[str, Any]) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = claims
        return {
            "access_token": self.mint(**claims),
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
            "refresh_token": refresh,
        }


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _handler(issuer: OidcIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._send(200, issuer.discovery())
            elif self.path == "/jwks":
                self._send(200, issuer.jwks())
            elif urlsplit(self.path).path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                status, answer = issuer.authorize(query)
                if isinstance(answer, str):
                    self.send_response(status)
                    self.send_header("Location", answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._send(status, answer)
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = parse_qs(self.rfile.read(length).decode())
            form = {k: v[0] for k, v in raw.items()}
            if self.path == "/device":
                self._send(*issuer.device_authorization(form))
            elif self.path == "/token":
                self._send(*issuer.token(form))
            elif self.path == "/verify":
                claims = json.loads(form.get("claims", "{}"))
                issuer.approve(form["user_code"], **claims)
                self._send(200, {"approved": form["user_code"]})
            else:
                self._send(404, {"error": "not_found"})

    return Handler


@contextmanager
def running_issuer(**options: Any) -> Iterator[OidcIssuer]:
    """Serve a :class:`OidcIssuer` on a free loopback port until the block ends."""
    issuer = OidcIssuer(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="oidc-issuer", daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
