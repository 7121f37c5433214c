"""Log in to a node by the OIDC device authorization flow (RFC 8628) and keep the access token fresh.

The node advertises its issuer and client id at ``/.well-known/eucaim-node``. The tool asks the
issuer for a device code, shows the user where to approve it, polls the token endpoint (honouring
``interval`` and ``slow_down``), and stores the access token as the workspace's token file, so
every command sends it as its bearer token. The refresh token and expiry go to ``oidc.json``;
both files are owner-only. Nothing here logs a token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from eucaim.errors import AuthenticationError, ConfigError, TransientError, UploadError
from eucaim.ingest.config import load_config, save_config
from eucaim.ingest.upload.http import build_client, check_url_security
from eucaim.ingest.workspace import TOKEN_NAME, write_private_file

logger = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOGIN_FILE = "oidc.json"
# Refresh this long before expiry, so a token does not lapse between the check and the request.
REFRESH_MARGIN_S = 60.0
SLOW_DOWN_STEP_S = 5.0  # RFC 8628 §3.5


@dataclass(frozen=True)
class LoginParameters:
    """Where and as which client to log in (from the node's advertisement and the issuer's discovery)."""

    issuer: str
    client_id: str
    scopes: str
    device_endpoint: str
    token_endpoint: str


@dataclass(frozen=True)
class DeviceAuthorization:
    """What the user must do: open ``verification_uri`` and enter ``user_code``."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


@dataclass(frozen=True)
class TokenSet:
    """An access token, its refresh token and when it expires (epoch seconds; None: unknown)."""

    access_token: str
    refresh_token: str | None
    expires_at: float | None


# --- pure decisions ---------------------------------------------------------------------------


def next_interval(error: str, interval: float, description: str = "") -> float:
    """Return how long to wait before polling again after token-endpoint ``error``.

    Raises:
        AuthenticationError: the user refused, the code expired, or the issuer refused the client.
    """
    if error == "authorization_pending":
        return interval
    if error == "slow_down":
        return interval + SLOW_DOWN_STEP_S
    if error == "access_denied":
        raise AuthenticationError("the login was refused at the identity provider", hint="run `login` again")
    if error == "expired_token":
        raise AuthenticationError(
            "the login code expired before it was approved", hint="run `eucaim-ingest login` again"
        )
    raise AuthenticationError(
        f"the identity provider refused the login: {error} {description}".strip(),
        hint="check the node's OIDC client id with its operator",
    )


def needs_refresh(tokens: TokenSet, now: float) -> bool:
    """Return True when the access token expires within the refresh margin."""
    return tokens.expires_at is not None and tokens.expires_at - now <= REFRESH_MARGIN_S


def token_set(body: dict[str, Any], *, now: float, previous_refresh: str | None = None) -> TokenSet:
    """Return the tokens of a successful token response (a refresh token may be left out on refresh)."""
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthenticationError("the identity provider answered without an access token")
    expires_in = body.get("expires_in")
    refresh = body.get("refresh_token")
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) else previous_refresh,
        expires_at=now + float(expires_in) if isinstance(expires_in, int | float) else None,
    )


# --- talking to the node and the issuer -------------------------------------------------------


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise UploadError(f"{what}: the answer is not JSON (HTTP {response.status_code})") from exc
    if not isinstance(body, dict):
        raise UploadError(f"{what}: the answer is not a JSON object")
    return body


def discover(node: httpx.Client, issuer_client: Callable[[str], httpx.Client]) -> LoginParameters:
    """Read the node's advertised issuer, then the issuer's endpoints.

    Raises:
        ConfigError: the node accepts API tokens only, or the issuer's discovery is inconsistent.
    """
    try:
        response = node.get(".well-known/eucaim-node")
    except httpx.HTTPError as exc:
        raise TransientError(f"cannot reach the node: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        raise ConfigError("this node does not advertise a login method (no /.well-known/eucaim-node)")
    oidc = _json(response, "node advertisement").get("oidc")
    if not isinstance(oidc, dict) or not oidc.get("issuer") or not oidc.get("client_id"):
        raise ConfigError(
            "this node accepts API tokens only; it advertises no OIDC issuer",
            hint="ask the node admin for a token, then `eucaim-ingest init ... --token-file FILE`",
        )
    issuer = str(oidc["issuer"])
    with issuer_client(issuer) as client:
        try:
            document = _json(
                client.get(issuer.rstrip("/") + "/.well-known/openid-configuration"), "issuer discovery"
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"cannot reach the identity provider {issuer}: {exc}") from exc
    if document.get("issuer") != issuer:
        raise ConfigError(f"the identity provider at {issuer} calls itself {document.get('issuer')!r}")
    device, token = document.get("device_authorization_endpoint"), document.get("token_endpoint")
    if not isinstance(device, str) or not isinstance(token, str):
        raise ConfigError(
            f"the identity provider {issuer} offers no device authorization flow",
            hint="ask the node operator for an API token instead",
        )
    check_url_security(device)
    check_url_security(token)
    return LoginParameters(
        issuer=issuer,
        client_id=str(oidc["client_id"]),
        scopes=str(oidc.get("scopes") or "openid"),
        device_endpoint=device,
        token_endpoint=token,
    )


def start_device_flow(client: httpx.Client, params: LoginParameters) -> DeviceAuthorization:
    """Ask the issuer for a device code and a user code."""
    response = client.post(
        params.device_endpoint, data={"client_id": params.client_id, "scope": params.scopes}
    )
    body = _json(response, "device authorization")
    if response.status_code != 200:
        next_interval(str(body.get("error", response.status_code)), 0, str(body.get("error_description", "")))
    complete = body.get("verification_uri_complete")
    return DeviceAuthorization(
        device_code=str(body["device_code"]),
        user_code=str(body["user_code"]),
        verification_uri=str(body.get("verification_uri") or body.get("verification_url")),
        verification_uri_complete=str(complete) if complete else None,
        expires_in=float(body.get("expires_in", 600)),
        interval=float(body.get("interval", 5)),
    )


def wait_for_tokens(
    client: httpx.Client,
    params: LoginParameters,
    device: DeviceAuthorization,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """Poll the token endpoint until the user approves (or refuses, or the code expires).

    Raises:
        AuthenticationError: refused, expired, or the issuer rejected the client.
    """
    interval = device.interval
    deadline = clock() + device.expires_in
    while True:
        sleep(interval)
        if clock() > deadline:
            next_interval("expired_token", interval)
        response = client.post(
            params.token_endpoint,
            data={
                "grant_type": DEVICE_GRANT,
                "device_code": device.device_code,
                "client_id": params.client_id,
            },
        )
        body = _json(response, "token request")
        if response.status_code == 200:
            return token_set(body, now=clock())
        interval = next_interval(str(body.get("error", "")), interval, str(body.get("error_description", "")))
        logger.debug("login pending (%s); next poll in %.0f s", body.get("error"), interval)


def refresh(client: httpx.Client, login: StoredLogin, *, now: float) -> TokenSet:
    """Exchange the stored refresh token for a new access token.

    Raises:
        AuthenticationError: no refresh token, or the issuer refused it (log in again).
    """
    if not login.tokens.refresh_token:
        raise AuthenticationError(
            "the login cannot be renewed (no refresh token)", hint="run `eucaim-ingest login`"
        )
    response = client.post(
        login.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": login.tokens.refresh_token,
            "client_id": login.client_id,
        },
    )
    body = _json(response, "token refresh")
    if response.status_code != 200:
        raise AuthenticationError(
            f"the identity provider refused to renew the login ({body.get('error', response.status_code)})",
            hint="run `eucaim-ingest login` again",
        )
    return token_set(body, now=now, previous_refresh=login.tokens.refresh_token)


# --- the workspace side -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredLogin:
    """What ``oidc.json`` holds: enough to renew the access token without the user."""

    issuer: str
    client_id: str
    token_endpoint: str
    tokens: TokenSet


def save_login(workspace: Path, params: LoginParameters, tokens: TokenSet) -> None:
    """Store the tokens owner-only and make the access token the workspace's bearer token."""
    login = StoredLogin(params.issuer, params.client_id, params.token_endpoint, tokens)
    write_private_file(workspace / LOGIN_FILE, json.dumps(asdict(login), indent=2).encode("utf-8"))
    write_private_file(workspace / TOKEN_NAME, tokens.access_token.encode("utf-8") + b"\n")
    config = load_config(workspace)
    if config.node.token_file != TOKEN_NAME:
        config.node = config.node.model_copy(update={"token_file": TOKEN_NAME})
        save_config(workspace, config)
    logger.info("stored an OIDC login for issuer %s", params.issuer)


def load_login(workspace: Path) -> StoredLogin | None:
    """Return the stored login, or None when the workspace uses an API token."""
    path = workspace / LOGIN_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoredLogin(
            issuer=data["issuer"],
            client_id=data["client_id"],
            token_endpoint=data["token_endpoint"],
            tokens=TokenSet(**data["tokens"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is unreadable: {exc}", hint="run `eucaim-ingest login` again") from exc


def fresh_access_token(
    workspace: Path, *, ca_bundle: Path | None = None, now: float | None = None
) -> str | None:
    """Return the workspace's OIDC access token, renewed first when it is about to expire.

    None when the workspace holds no OIDC login (it uses an API token).

    Raises:
        AuthenticationError: renewal refused: the user must log in again.
    """
    login = load_login(workspace)
    if login is None:
        return None
    moment = time.time() if now is None else now
    if not needs_refresh(login.tokens, moment):
        return login.tokens.access_token
    with build_client(login.issuer, ca_bundle=ca_bundle, timeout_s=30) as client:
        tokens = refresh(client, login, now=moment)
    params = LoginParameters(login.issuer, login.client_id, "", "", login.token_endpoint)
    save_login(workspace, params, tokens)
    return tokens.access_token
