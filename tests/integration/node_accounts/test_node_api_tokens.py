"""API tokens: made with an expiry, listed without secrets, revoked, refused saying why; last use noted."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from eucaim.errors import NotFound
from eucaim.node.cli import app
from eucaim.node.db import session_scope
from eucaim.node.models import ApiToken
from eucaim.node.services.accounts import hash_token
from eucaim.node.services.tokens import create_token, list_tokens, parse_duration, revoke_token
from tests.support.node_server import RunningNode, running_node

runner = CliRunner()


def _cli(node: RunningNode, *args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, [*args, "--data", str(node.data_dir)], env=node.cli_env)
    return result.exit_code, result.stdout, result.exception


def _me(node: RunningNode, token: str) -> httpx.Response:
    return httpx.get(f"{node.url}/me", headers=node.auth(token))


def test_token_create_list_revoke_as_an_operator_runs_them(node_server: RunningNode) -> None:
    node_server.add_user("alice")
    node_server.create_biobank("bb1", managers=["alice"])
    code, out, _ = _cli(node_server, "token", "create", "alice", "--expires-in", "90d")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("eucaim_") and " " not in token
    assert "expires" in out.splitlines()[0]

    me = _me(node_server, token).json()
    assert me["name"] == "alice" and me["role"] == "data-ingester" and me["biobanks"] == ["bb1"]
    expires = datetime.fromisoformat(me["token_expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)

    code, listing, _ = _cli(node_server, "token", "list", "alice")
    assert code == 0
    assert token not in listing and token[:20] not in listing  # never the secret, only a short prefix
    rows = [line for line in listing.splitlines() if "alice" in line]
    assert len(rows) == 2  # the token add_user made, and this one
    assert any(line.split()[3] == "active" and "never" not in line.split()[-2:] for line in rows)

    token_id = next(line.split()[0] for line in rows if token[:11] in line)
    code, out, _ = _cli(node_server, "token", "revoke", token_id)
    assert code == 0 and f"revoked API token {token_id}" in out
    refused = _me(node_server, token)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "API token was revoked"
    assert "revoked on" in refused.json()["hint"]
    assert "revoked" in _cli(node_server, "token", "list")[1]


def test_never_expiring_tokens_and_bad_input(node_server: RunningNode) -> None:
    node_server.add_user("bob", "validator")
    code, out, _ = _cli(node_server, "token", "create", "bob", "--expires-in", "never")
    assert code == 0 and "expires never" in out
    assert _me(node_server, out.strip().splitlines()[-1]).json()["token_expires_at"] is None
    code, _, error = _cli(node_server, "token", "create", "bob", "--expires-in", "soon")
    assert code != 0 and "not a duration" in str(error)
    code, _, error = _cli(node_server, "token", "create", "nobody")
    assert code != 0 and isinstance(error, NotFound) and "user 'nobody' does not exist" in str(error)
    code, _, error = _cli(node_server, "token", "revoke", "999")
    assert code != 0 and isinstance(error, NotFound) and "token list" in str(error)


def test_an_expired_token_is_refused_saying_when(node_server: RunningNode) -> None:
    token = node_server.add_user("carol")
    with session_scope(node_server.context.sessions) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .values(expires_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
        )
    response = _me(node_server, token)
    assert response.status_code == 401
    assert response.json()["detail"] == "API token has expired"
    assert "expired on 2026-01-02 03:04 UTC" in response.json()["hint"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_last_use_is_noted_once_a_minute_at_most(node_server: RunningNode) -> None:
    token = node_server.add_user("dave")
    with session_scope(node_server.context.sessions) as session:
        assert list_tokens(session, user_name="dave")[0].last_used_at is None
    assert _me(node_server, token).status_code == 200
    with session_scope(node_server.context.sessions) as session:
        first = list_tokens(session, user_name="dave")[0].last_used_at
    assert first is not None and datetime.now(UTC) - first < timedelta(seconds=30)
    assert _me(node_server, token).status_code == 200
    with session_scope(node_server.context.sessions) as session:
        assert list_tokens(session, user_name="dave")[0].last_used_at == first  # no write per request


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("never", None),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_durations(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0d", "d", "5y", "-1d", "1.5h", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_tokens_on_postgresql(tmp_path: Path, postgres_database: str) -> None:
    with running_node(tmp_path / "node", database_url=postgres_database) as node:
        node.add_user("erin")
        now = datetime.now(UTC)
        with session_scope(node.context.sessions) as session:
            short = create_token(
                session, user_name="erin", now=now - timedelta(hours=2), ttl=timedelta(hours=1)
            )
            live = create_token(session, user_name="erin", now=now, ttl=None)
        assert _me(node, short.token).json()["detail"] == "API token has expired"
        assert _me(node, live.token).json()["token_expires_at"] is None
        with session_scope(node.context.sessions) as session:
            revoke_token(session, token_id=live.info.id, now=now)
            states = {t.id: t.state(datetime.now(UTC)) for t in list_tokens(session, user_name="erin")}
        assert states[short.info.id] == "expired" and states[live.info.id] == "revoked"
        assert _me(node, live.token).json()["detail"] == "API token was revoked"


def test_a_burst_of_requests_with_one_token_all_pass_when_its_use_is_due(node_server: RunningNode) -> None:
    token = node_server.add_user("fay")
    for _ in range(3):
        with session_scope(node_server.context.sessions) as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == hash_token(token))
                .values(last_used_at=datetime.now(UTC) - timedelta(hours=1))
            )
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _me(node_server, token).status_code, range(16)))
        assert statuses == [200] * 16
    with session_scope(node_server.context.sessions) as session:
        used = list_tokens(session, user_name="fay")[0].last_used_at
    assert used is not None and datetime.now(UTC) - used < timedelta(minutes=1)


def test_the_program_reports_errors_on_one_line_with_exit_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    node = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]
    revoke = subprocess.run(
        [*node, "token", "revoke", "41", "--data", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert revoke.returncode == 1
    assert revoke.stderr.strip() == "error: API token 41 does not exist (see `eucaim-node token list`)"
    decline = subprocess.run(
        [*node, "request", "decline", "1", "--data", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert decline.returncode == 2 and "--reason" in decline.stderr
