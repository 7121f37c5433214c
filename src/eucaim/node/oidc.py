"""OIDC bearer tokens: verify a JWT from the configured issuer (signature, iss, aud, exp, nbf).

A verified token's claims go to :mod:`eucaim.node.oidc_claims` (what they grant) and
:mod:`eucaim.node.services.oidc_accounts` (the user they belong to). One verifier per app holds
the issuer's cached keys (:mod:`eucaim.node.oidc_keys`).
"""

from __future__ import annotations

import threading
from typing import Any

import jwt

from eucaim.errors import AuthenticationError, ConfigError
from eucaim.node.oidc_claims import ClaimRules, biobank_group_regex
from eucaim.node.oidc_keys import IssuerKeys
from eucaim.node.oidc_settings import OidcSettings

# Asymmetric algorithms only: "none" and HMAC (which would turn a public key into a shared
# secret) are never accepted, whatever the token header says.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def looks_like_jwt(token: str) -> bool:
    """Return True for a compact JWS (three base64url parts, a JSON header)."""
    return token.startswith("eyJ") and token.count(".") == 2


class OidcVerifier:
    """Verifies bearer JWTs of one issuer, for one audience."""

    def __init__(self, settings: OidcSettings, *, keys: IssuerKeys | None = None) -> None:
        if not settings.issuer:
            raise ConfigError("OIDC is not configured", hint="set EUCAIM_NODE_OIDC_ISSUER")
        audience = settings.expected_audience
        if not audience:
            raise ConfigError(
                "EUCAIM_NODE_OIDC_ISSUER is set but no audience is",
                hint="set EUCAIM_NODE_OIDC_AUDIENCE or EUCAIM_NODE_OIDC_CLIENT_ID",
            )
        biobank_group_regex(settings.biobank_group)  # fail at start-up on a bad pattern
        self.issuer = settings.issuer
        self.audience = audience
        self.leeway_s = settings.leeway_s
        self.rules = ClaimRules(
            username_claim=settings.username_claim,
            role_claim=settings.role_claim,
            role_map=dict(settings.role_map),
            default_role=settings.default_role,
            group_claim=settings.group_claim,
            biobank_group_pattern=settings.biobank_group,
        )
        self.keys = keys or IssuerKeys(settings.issuer, min_refresh_s=settings.jwks_min_refresh_s)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a token this node accepts.

        Raises:
            AuthenticationError: bad signature, unknown key, wrong issuer or audience, expired or
                not yet valid, or not a JWT at all.
            TransientError: the issuer's keys cannot be fetched.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise _refused(f"the bearer token is not a valid JWT ({exc})") from exc
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise _refused(f"the token's signing algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        key = self.keys.key_for(kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _refused("the OIDC token has expired", hint="log in again: `eucaim-ingest login`") from exc
        except jwt.ImmatureSignatureError as exc:
            raise _refused("the OIDC token is not valid yet (nbf/iat in the future)") from exc
        except jwt.InvalidAudienceError as exc:
            raise _refused(
                f"the OIDC token is not meant for this node (audience is not {self.audience!r})"
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise _refused(f"the OIDC token was not issued by {self.issuer}") from exc
        except jwt.InvalidTokenError as exc:
            raise _refused(f"the OIDC token was refused: {exc}") from exc
        return claims

    def close(self) -> None:
        """Release the key fetcher's connections."""
        self.keys.close()


def _refused(message: str, *, hint: str = "log in again: `eucaim-ingest login`") -> AuthenticationError:
    return AuthenticationError(message, status_code=401, hint=hint)


_lock = threading.Lock()


def verifier_for(holder: Any, settings: OidcSettings) -> OidcVerifier | None:
    """Return the verifier kept on ``holder`` (the app's state), made on first use; None without OIDC.

    Kept per app rather than per process so two nodes in one test process never share keys.
    """
    if not settings.enabled:
        return None
    verifier: OidcVerifier | None = getattr(holder, "oidc_verifier", None)
    if verifier is None:
        with _lock:
            verifier = getattr(holder, "oidc_verifier", None)
            if verifier is None:
                verifier = OidcVerifier(settings)
                holder.oidc_verifier = verifier
    return verifier
