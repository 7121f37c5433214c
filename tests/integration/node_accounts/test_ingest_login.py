"""`eucaim-ingest login`: the OIDC device flow against a real issuer and node, token storage and renewal."""

from __future__ import annotations

import json
import re
import stat
import threading
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from eucaim.errors import AuthenticationError, ConfigError
from eucaim.ingest.cli import app
from eucaim.ingest.login import (
    LOGIN_FILE,
    LoginParameters,
    load_login,
    start_device_flow,
    wait_for_tokens,
)
from tests.support.node_server import RunningNode
from tests.support.oidc_issuer import OidcIssuer

runner = CliRunner()
LENA = {"sub": "u-lena", "preferred_username": "lena", "roles": ["data-ingester"], "groups": ["PROJECT-bb1"]}


def _workspace(tmp_path: Path, node: RunningNode) -> Path:
    ws = tmp_path / "ws"
    result = runner.invoke(
        app, ["init", "--node", node.url, "--biobank", "bb1", "--token", "not-yet", "-w", str(ws)]
    )
    assert result.exit_code == 0, result.output
    return ws


def _login_as_user(issuer: OidcIssuer, claims: dict[str, object]) -> threading.Thread:
    """Play the user in a browser: wait for the code the CLI shows, then approve it at the issuer."""

    def approve() -> None:
        code = issuer.wait_for_user_code()
        httpx.post(f"{issuer.url}/verify", data={"user_code": code, "claims": json.dumps(claims)})

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def test_device_login_end_to_end(tmp_path: Path, oidc_node: RunningNode, issuer: OidcIssuer) -> None:
    ws = _workspace(tmp_path, oidc_node)
    user = _login_as_user(issuer, LENA)
    result = runner.invoke(app, ["login", "-w", str(ws)])
    user.join(5)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"To log in, open {issuer.url}/verify" in out
    code = re.search(r"enter the code: (\S+)", out)
    assert code and f"user_code={code.group(1)}" in out
    assert (
        out.strip().splitlines()[-1] == f"logged in to {oidc_node.url} as lena (data-ingester); biobanks: bb1"
    )

    token = (ws / "token").read_text().strip()
    assert token.startswith("eyJ")
    for name in ("token", LOGIN_FILE):
        assert stat.S_IMODE((ws / name).stat().st_mode) == 0o600
    assert token not in result.output  # shown to nobody
    # The workspace now talks to the node with it.
    me = httpx.get(f"{oidc_node.url}/me", headers=oidc_node.auth(token)).json()
    assert (me["name"], me["auth"], me["biobanks"]) == ("lena", "oidc", ["bb1"])


def test_an_expiring_token_is_renewed_with_the_refresh_token(
    tmp_path: Path, oidc_node: RunningNode, issuer: OidcIssuer
) -> None:
    issuer.access_ttl_s = 30  # inside the renewal margin: due at once
    ws = _workspace(tmp_path, oidc_node)
    user = _login_as_user(issuer, LENA)
    assert runner.invoke(app, ["login", "-w", str(ws)]).exit_code == 0
    user.join(5)
    first = load_login(ws)
    assert first is not None and first.tokens.refresh_token

    result = runner.invoke(app, ["biobank", "requests", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    renewed = load_login(ws)
    assert renewed is not None
    assert renewed.tokens.refresh_token != first.tokens.refresh_token
    assert (ws / "token").read_text().strip() == renewed.tokens.access_token != first.tokens.access_token

    # `login` again renews without the user while the refresh token is good...
    again = runner.invoke(app, ["login", "-w", str(ws)])
    assert again.exit_code == 0 and "renewed the stored login" in again.stdout
    # ...and falls back to a new device login when the issuer forgot it.
    issuer.refresh_tokens.clear()
    user = _login_as_user(issuer, LENA)
    fallback = runner.invoke(app, ["login", "-w", str(ws)])
    user.join(5)
    assert fallback.exit_code == 0, fallback.output
    assert "enter the code" in fallback.stdout


def test_polling_honours_interval_and_slow_down(oidc_node: RunningNode, issuer: OidcIssuer) -> None:
    issuer.enforce_interval = False
    issuer.force_slow_down = 1
    params = _params(issuer)
    sleeps: list[float] = []
    with httpx.Client() as client:
        device = start_device_flow(client, params)

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            if len(sleeps) == 3:
                issuer.approve(device.user_code, **LENA)

        tokens = wait_for_tokens(client, params, device, sleep=sleep)
    # interval 1; slow_down adds 5 for this and every later poll; pending keeps the interval.
    assert sleeps == [1, 6, 6]
    assert tokens.access_token.startswith("eyJ") and tokens.refresh_token


def test_a_refused_login_says_so(oidc_node: RunningNode, issuer: OidcIssuer) -> None:
    params = _params(issuer)
    with httpx.Client() as client:
        device = start_device_flow(client, params)
        issuer.deny(device.user_code)
        with pytest.raises(AuthenticationError, match="refused at the identity provider"):
            wait_for_tokens(client, params, device, sleep=lambda s: None)


def test_login_to_a_node_without_an_issuer_points_to_api_tokens(
    tmp_path: Path, node_server: RunningNode
) -> None:
    ws = _workspace(tmp_path, node_server)
    result = runner.invoke(app, ["login", "-w", str(ws)])
    assert isinstance(result.exception, ConfigError)
    assert "accepts API tokens only" in str(result.exception)
    assert "--token-file" in str(result.exception)


def _params(issuer: OidcIssuer) -> LoginParameters:
    return LoginParameters(
        issuer=issuer.url,
        client_id=issuer.client_id,
        scopes="openid",
        device_endpoint=f"{issuer.url}/device",
        token_endpoint=f"{issuer.url}/token",
    )
