"""The node's account endpoints as eucaim-ingest uses them: who am I, and my biobank requests."""

from __future__ import annotations

from typing import Any

import httpx

from eucaim.errors import AuthenticationError, TransientError, UploadError
from eucaim.ingest.login import fresh_access_token
from eucaim.ingest.workspace import Workspace


def bearer_token(ws: Workspace) -> str:
    """Return the token to send: the OIDC login's (renewed when due), else the workspace's API token."""
    return fresh_access_token(ws.path, ca_bundle=ws.ca_bundle) or ws.token


def _answer(response: httpx.Response, what: str) -> Any:
    if response.status_code < 300:
        return response.json()
    try:
        problem = response.json()
        detail, hint = str(problem.get("detail", "")), str(problem.get("hint", ""))
    except ValueError:
        detail, hint = response.text[:200], ""
    message = f"{what}: the node answered {response.status_code}: {detail}"
    if response.status_code == 401:
        raise AuthenticationError(message, status_code=401, hint=hint or "run `eucaim-ingest login`")
    if response.status_code >= 500:
        raise TransientError(message, status_code=response.status_code)
    raise UploadError(message, status_code=response.status_code, hint=hint)


def _call(client: httpx.Client, method: str, path: str, token: str, what: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except httpx.HTTPError as exc:
        raise TransientError(f"{what}: cannot reach the node: {type(exc).__name__}: {exc}") from exc
    return _answer(response, what)


def whoami(client: httpx.Client, token: str) -> dict[str, Any]:
    """Return the node's ``/me``: name, role, biobanks, auth, token_expires_at."""
    result: dict[str, Any] = _call(client, "GET", "me", token, "who am I")
    return result


def request_biobank(
    client: httpx.Client, token: str, *, code: str, name: str, description: str = "", url: str | None = None
) -> dict[str, Any]:
    """Ask the node for a new biobank; return the request as recorded (status ``pending``)."""
    body = {"code": code, "name": name, "description": description, "url": url}
    result: dict[str, Any] = _call(client, "POST", "biobank-requests", token, "biobank request", json=body)
    return result


def my_requests(client: httpx.Client, token: str) -> list[dict[str, Any]]:
    """Return the caller's biobank requests, oldest first."""
    result: dict[str, Any] = _call(client, "GET", "biobank-requests", token, "biobank requests")
    requests: list[dict[str, Any]] = result.get("requests", [])
    return requests
