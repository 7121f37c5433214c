"""Open the real xnatpy client on a workspace's XNAT: TLS 1.3, the workspace's CA, quiet logs.

xnatpy builds its own ``requests`` session inside ``xnat.connect`` and takes only a bool for
``verify``, so: the server is first probed with our TLS 1.3-only client (a node that cannot do
TLS 1.3, or a certificate we do not trust, fails there, before any credential is sent); a custom CA
reaches xnatpy through ``REQUESTS_CA_BUNDLE`` while it connects and ``session.verify`` after; and
its connection pool is then replaced by one using our TLS 1.3 context. xnatpy logs to a child of
our logger at WARNING, never with request bodies (the form holding the password is one).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from eucaim.errors import AuthenticationError, UploadError
from eucaim.ingest.upload.http import build_client
from eucaim.ingest.upload.xnat_session import AUTH_HINT, Credentials
from eucaim.tls import client_context

logger = logging.getLogger(__name__)


class _Tls13Adapter(HTTPAdapter):
    """A requests adapter whose pools use our TLS 1.3-only context."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def _probe_tls(url: str, ca_bundle: Path | None) -> None:
    """Fail early (TlsError / UploadError) when the site does not speak TLS 1.3 with a trusted cert."""
    if not url.startswith("https://"):
        return
    from eucaim.ingest.upload.http import RetryPolicy

    with build_client(url, ca_bundle=ca_bundle, timeout_s=30.0) as client:
        RetryPolicy(max_attempts=2).run("TLS check of the XNAT site", lambda: client.get(""))


@contextmanager
def _ca_environment(ca_bundle: Path | None) -> Iterator[None]:
    if ca_bundle is None:
        yield
        return
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_bundle)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before


@contextmanager
def connect_xnatpy(
    url: str, credentials: Callable[[], Credentials], *, ca_bundle: Path | None = None
) -> Iterator[Any]:
    """An xnatpy ``XNATSession`` logged in with ``credentials``; disconnected when the block ends.

    Raises:
        AuthenticationError: XNAT refused the user name and password (or alias token).
        UploadError: XNAT answered the login with another error.
        TlsError: the site does not offer TLS 1.3 with a certificate we trust.
    """
    import xnat
    from xnat.exceptions import XNATAuthError, XNATConnectionError, XNATResponseError

    _probe_tls(url, ca_bundle)
    user, password = credentials()
    quiet = logging.getLogger(f"{__name__}.xnatpy")
    quiet.setLevel(logging.WARNING)
    try:
        with _ca_environment(ca_bundle):
            session = xnat.connect(url, user=user, password=password, logger=quiet, loglevel="WARNING")
    except XNATAuthError as exc:
        raise AuthenticationError(
            f"XNAT at {url} refused the login", status_code=401, hint=AUTH_HINT
        ) from exc
    except XNATResponseError as exc:
        status = getattr(exc, "status_code", None)
        if status == 401:
            raise AuthenticationError(
                f"XNAT at {url} refused the login (401)", status_code=401, hint=AUTH_HINT
            ) from exc
        raise UploadError(
            f"XNAT at {url} answered the login with an error ({status})", status_code=status
        ) from exc
    except (requests.RequestException, XNATConnectionError) as exc:
        raise UploadError(
            f"cannot reach XNAT at {url}: {type(exc).__name__}",
            hint="check the URL, the network and any proxy (HTTPS_PROXY)",
        ) from exc
    try:
        if url.startswith("https://"):
            interface: requests.Session = session.interface
            interface.mount("https://", _Tls13Adapter(client_context(ca_bundle)))
            if ca_bundle is not None:
                interface.verify = str(ca_bundle)
        yield session
    finally:
        try:
            session.disconnect()
        except (requests.RequestException, XNATResponseError):
            logger.debug("xnatpy logout failed; the session will time out on its own")
