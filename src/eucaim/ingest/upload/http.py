"""HTTP plumbing shared by the targets: TLS 1.3 clients, URL safety, and the one retry policy.

Retries live here and nowhere else: transport errors, 408, 429 and 5xx are retried with
exponential backoff, full jitter and the server's Retry-After; everything else is final.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import ssl
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from eucaim import __version__
from eucaim.errors import AuthenticationError, ConfigError, TransientError, UploadError
from eucaim.tls import client_context

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
T = TypeVar("T")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url_security(url: str) -> None:
    """Refuse plain HTTP to anything but this machine: patient data only travels over TLS."""
    if url.startswith("http://") and not is_loopback(url):
        raise ConfigError(
            f"refusing to send data over plain HTTP to {urlsplit(url).hostname}",
            hint="use the node's https:// URL (TLS 1.3)",
        )


def build_client(
    base_url: str,
    *,
    ca_bundle: Path | None = None,
    timeout_s: float = 120.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client that speaks TLS 1.3 only (for https) and has sane timeouts.

    ``transport`` replaces the network, for tests that script a misbehaving server.
    """
    check_url_security(base_url)
    verify = client_context(ca_bundle) if base_url.startswith("https://") else True
    return httpx.Client(
        transport=transport,
        base_url=base_url.rstrip("/") + "/",
        verify=verify,
        timeout=httpx.Timeout(timeout_s, connect=15.0),
        headers={"User-Agent": f"eucaim-ingest/{__version__}"},
        trust_env=True,  # hospital proxies come from HTTPS_PROXY / NO_PROXY
    )


def retry_after_seconds(response: httpx.Response, cap: float = 300.0) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(cap, max(0.0, when.timestamp() - time.time()))


def raise_for_transient(response: httpx.Response) -> None:
    if response.status_code in RETRYABLE_STATUS:
        raise TransientError(
            f"node answered {response.status_code}",
            status_code=response.status_code,
            retry_after=retry_after_seconds(response),
        )


class BearerAuth:
    """A node's bearer token, with the one re-read allowed after a 401.

    The token is read again once (the user may have replaced the file, or an OIDC login renewed
    it); a second 401 stops with a message saying what to do. Shared by every client of our node.
    """

    def __init__(self, provider: Callable[[], str] | None) -> None:
        self._provider = provider
        self._token = provider() if provider else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def request(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        make_body: Callable[[], tuple[dict[str, str], object]] | None = None,
        params: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; ``make_body`` rebuilds (headers, content) for each attempt."""
        for refreshed in (False, True):
            body_headers, content = make_body() if make_body else ({}, None)
            response = client.request(
                method,
                url,
                params=params,
                headers={**self.headers(), **(headers or {}), **body_headers},
                content=content,  # type: ignore[arg-type]
                **kwargs,
            )
            if response.status_code != 401 or self._provider is None or refreshed:
                break
            logger.info("node answered 401; reading the token again")
            self._token = self._provider()
        if response.status_code == 401:
            raise AuthenticationError(
                f"the node refused our credentials (401) at {client.base_url}",
                status_code=401,
                hint="sign in again with `eucaim-ingest login` if the node uses OIDC; otherwise ask "
                "the node administrator for a new API token, then run "
                "`eucaim-ingest init ... --token-file FILE` again",
            )
        return response


class TlsError(UploadError):
    """The TLS handshake failed: wrong protocol version, unknown CA, wrong host name."""


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "SSL" in str(exc) or "CERTIFICATE" in str(exc)


class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts."""

    def __init__(
        self,
        max_attempts: int = 8,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.cap_s = cap_s
        self._sleep = sleep
        self._rng = rng or random.Random()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = self._rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(backoff, retry_after or 0.0)

    def run(self, what: str, call: Callable[[], T]) -> T:
        """Call ``call`` until it succeeds, raises a non-transient error, or attempts run out."""
        for attempt in range(self.max_attempts):
            try:
                return call()
            except httpx.ConnectError as exc:
                if _is_tls_failure(exc):
                    # A certificate or protocol-version problem does not heal by retrying.
                    raise TlsError(
                        f"{what}: TLS handshake failed: {exc}",
                        hint="the node must offer TLS 1.3 with a certificate your system trusts; "
                        "for a private CA pass --ca-bundle to `eucaim-ingest init`",
                    ) from exc
                error = TransientError(f"{what}: {type(exc).__name__}: {exc}")
            except httpx.TransportError as exc:
                error = TransientError(f"{what}: {type(exc).__name__}: {exc}")
            except TransientError as exc:
                error = exc
            if attempt + 1 == self.max_attempts:
                raise TransientError(
                    f"{what} failed {self.max_attempts} times; last error: {error}",
                    status_code=error.status_code,
                )
            wait = self.delay(attempt, error.retry_after)
            logger.info("%s: %s; retrying in %.1f s", what, error, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")
