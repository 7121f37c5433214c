"""One logged-in XNAT session (JSESSIONID) over httpx: TLS 1.3, re-login once on 401, the retry policy.

XNAT hands out a JSESSIONID on ``PUT /data/services/auth`` and expires it after its idle timeout
(15 min by default). Every request reuses that one session; a 401 means it expired, so we log in
again once and repeat the request. A second 401 means the credentials are wrong. Alias tokens
(``ALIAS:SECRET``) log in through the same form as user name and password.

Credentials are read through a callable at each login (a password file replaced on disk is picked
up) and never logged: log lines name methods, paths and statuses only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from eucaim.errors import AuthenticationError, ConfigError, UploadError
from eucaim.ingest.upload.http import RetryPolicy, build_client, raise_for_transient

logger = logging.getLogger(__name__)

Credentials = tuple[str, str]
BodyFactory = Callable[[], tuple[dict[str, str], Iterator[bytes]]]

AUTH_HINT = (
    "check the XNAT user name and password (or alias token) of this workspace; alias tokens expire "
    "after 48 h by default: issue a new one and run `eucaim-ingest init --kind xnat ...` again"
)


def split_credentials(username: str | None, secret: str) -> Credentials:
    """User name and password: ``username`` with ``secret``, or an alias token ``ALIAS:SECRET``."""
    if username:
        return username, secret
    alias, sep, token_secret = secret.partition(":")
    if not sep or not alias or not token_secret:
        raise ConfigError(
            "the XNAT credential file holds neither a password (no --user given) nor ALIAS:SECRET",
            hint="run `eucaim-ingest init --kind xnat --user NAME --password-file F`, or put an alias "
            "token as ALIAS:SECRET in the file given to --token-file",
        )
    return alias, token_secret


class XnatSession:
    """HTTP access to one XNAT site as one user, sharing one JSESSION across threads."""

    def __init__(
        self,
        url: str,
        credentials: Callable[[], Credentials],
        *,
        ca_bundle: Path | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._credentials = credentials
        self._client = build_client(self.url, ca_bundle=ca_bundle, timeout_s=timeout_s, transport=transport)
        self._retry = retry or RetryPolicy()
        self._lock = threading.Lock()
        self._generation = 0  # bumped on each login, so concurrent 401s log in only once
        self.logins = 0

    # -- session ---------------------------------------------------------------------------------

    def login(self) -> None:
        """Open a JSESSION (``PUT /data/services/auth``); raise AuthenticationError if refused."""
        user, password = self._credentials()
        self._client.cookies.clear()

        def attempt() -> httpx.Response:
            response = self._client.put("data/services/auth", data={"username": user, "password": password})
            raise_for_transient(response)
            return response

        response = self._retry.run("XNAT login", attempt)
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"XNAT at {self.url} refused the login ({response.status_code})",
                status_code=response.status_code,
                hint=AUTH_HINT,
            )
        if response.status_code != 200 or not response.text.strip():
            raise UploadError(
                f"XNAT login at {self.url} answered {response.status_code}",
                status_code=response.status_code,
                hint="check that the URL is the XNAT site's root (the page you log in on)",
            )
        token = response.text.strip()
        # XNAT sets the cookie itself; set it too in case a proxy strips Set-Cookie.
        self._client.cookies.set("JSESSIONID", token)
        self._generation += 1
        self.logins += 1
        logger.info("logged in to XNAT at %s", self.url)

    def _ensure_login(self, seen_generation: int) -> None:
        with self._lock:
            if self._generation == seen_generation:
                self.login()

    def close(self) -> None:
        """End the JSESSION (best effort) and close the connection pool."""
        if self._generation:
            try:
                self._client.delete("data/JSESSION")
            except httpx.HTTPError:
                logger.debug("logout from XNAT failed; the session will time out on its own")
        self._client.close()

    # -- requests --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: BodyFactory | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one request in the session, with the retry policy, and return any non-401 answer.

        ``body`` builds headers and content afresh for each attempt (a stream cannot be replayed).
        Raises AuthenticationError on a 401 that survives a new login, TransientError when retries
        run out; every other status is the caller's to judge.
        """

        def attempt() -> httpx.Response:
            response: httpx.Response | None = None
            for relogged in (False, True):
                generation = self._generation
                if generation == 0:
                    self._ensure_login(0)
                    generation = self._generation
                headers, content = body() if body else ({}, None)
                response = self._client.request(method, path, params=params, headers=headers, content=content)
                if response.status_code != 401 or relogged:
                    break
                logger.info("XNAT answered 401 to %s; the session expired, logging in again", what)
                self._ensure_login(generation)
            assert response is not None
            if response.status_code == 401:
                raise AuthenticationError(
                    f"XNAT at {self.url} refused {what} (401) right after a new login",
                    status_code=401,
                    hint=AUTH_HINT,
                )
            raise_for_transient(response)
            return response

        return self._retry.run(what, attempt) if retry else attempt()

    def json(self, path: str, *, what: str, params: dict[str, str] | None = None) -> object:
        """GET ``path`` as JSON (``format=json``); raise UploadError for anything but 200."""
        response = self.request("GET", path, what=what, params={"format": "json", **(params or {})})
        check_status(response, what)
        return response.json()

    def result_set(
        self, path: str, *, what: str, params: dict[str, str] | None = None
    ) -> list[dict[str, str]]:
        """The rows of an XNAT listing (``{"ResultSet": {"Result": [...]}}``)."""
        data = self.json(path, what=what, params=params)
        try:
            rows = data["ResultSet"]["Result"]  # type: ignore[index]
        except (KeyError, TypeError):
            raise UploadError(f"XNAT answered {what} with an unexpected document") from None
        return [dict(row) for row in rows]


def check_status(response: httpx.Response, what: str, *, ok: tuple[int, ...] = (200,)) -> None:
    """Raise UploadError with a hint for a refused request; return quietly for ``ok`` statuses."""
    status = response.status_code
    if status in ok:
        return
    text = response.text[:300].strip()
    if status == 403:
        raise UploadError(
            f"XNAT refused {what} (403): {text}",
            status_code=403,
            hint="your XNAT account cannot write to this project (or it is locked); ask the project "
            "owner to make you a member or owner, then run push again: nothing sent so far is lost",
        )
    if status == 404:
        raise UploadError(
            f"XNAT has no such object for {what} (404): {text}",
            status_code=404,
            hint="check the project ID given to `eucaim-ingest init --project` exists on this XNAT",
        )
    if status == 409:
        raise UploadError(
            f"XNAT refused {what} (409): {text}",
            status_code=409,
            hint="XNAT already holds other bytes under the same names; if the de-identification "
            "profile or site secret changed since the first push, restore it, or delete the session "
            "in XNAT and push again",
        )
    raise UploadError(f"XNAT refused {what} ({status}): {text}", status_code=status)
