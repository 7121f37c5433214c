"""The trusted issuer's signing keys: discovery document and JWKS, fetched on first use and cached.

Only the configured issuer is ever contacted: its ``/.well-known/openid-configuration`` must name
that same issuer, and the ``jwks_uri`` it gives must be on the issuer's own origin. Header fields
that point elsewhere (``jku``, ``x5u``) are never followed. An unknown ``kid`` triggers one refresh
(key rotation), at most once per ``min_refresh_s``, so a flood of made-up kids cannot turn the node
into a request amplifier against the issuer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from eucaim.errors import AuthenticationError, ConfigError, TransientError

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
FETCH_TIMEOUT_S = 10.0


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def discovery_url(issuer: str) -> str:
    """Return the issuer's OIDC discovery URL."""
    return issuer.rstrip("/") + DISCOVERY_PATH


class IssuerKeys:
    """The JWKS of one issuer, safe to share between request threads."""

    def __init__(
        self,
        issuer: str,
        *,
        client: httpx.Client | None = None,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._client = client or httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False)
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._jwks_uri: str | None = None

    def key_for(self, kid: str | None) -> PyJWK:
        """Return the signing key ``kid`` names (the only key, when the token names none).

        Raises:
            AuthenticationError: the issuer publishes no such key (even after a refresh).
            TransientError: the issuer cannot be reached.
        """
        with self._lock:
            if self._fetched_at is None:
                self._refresh()
            key = self._pick(kid)
            if key is None and self._may_refresh():
                self._refresh()
                key = self._pick(kid)
        if key is None:
            raise AuthenticationError(
                f"the token is signed with a key (kid {kid!r}) the issuer {self.issuer} does not publish",
                status_code=401,
                hint="log in again (`eucaim-ingest login`) to get a token from the configured issuer",
            )
        return key

    def _pick(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refresh_s

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        if self._jwks_uri is None:
            self._jwks_uri = self._discover_jwks_uri()
        document = self._get_json(self._jwks_uri)
        try:
            jwks = PyJWKSet.from_dict(document)
        except (PyJWKSetError, PyJWKError) as exc:
            raise TransientError(f"the JWKS of {self.issuer} holds no usable signing key: {exc}") from exc
        self._keys = {
            key.key_id or f"#{index}": key
            for index, key in enumerate(jwks.keys)
            if key.public_key_use in (None, "sig")
        }
        logger.info("fetched %d signing key(s) of the OIDC issuer", len(self._keys))

    def _discover_jwks_uri(self) -> str:
        document = self._get_json(discovery_url(self.issuer))
        if document.get("issuer") != self.issuer:
            raise ConfigError(
                f"the discovery document of {self.issuer} names issuer {document.get('issuer')!r}",
                hint="set EUCAIM_NODE_OIDC_ISSUER to exactly the issuer's 'iss' value",
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or _origin(jwks_uri) != _origin(self.issuer):
            raise ConfigError(
                f"the issuer {self.issuer} gives a jwks_uri outside its own origin: {jwks_uri!r}",
                hint="the node fetches keys from the configured issuer only",
            )
        return jwks_uri

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TransientError(f"cannot reach the OIDC issuer at {url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TransientError(
                f"the OIDC issuer answered {response.status_code} for {url}", status_code=503
            )
        try:
            document = response.json()
        except ValueError as exc:
            raise TransientError(f"the OIDC issuer sent no JSON at {url}") from exc
        if not isinstance(document, dict):
            raise TransientError(f"the OIDC issuer sent no JSON object at {url}")
        return document

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
