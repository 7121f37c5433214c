"""The UI's own password: set by `eucaim-ingest ui --set-password`, stored as a hash, guessing slowed down."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from eucaim.errors import ConfigError
from eucaim.ingest.cli import app as ingest_app
from eucaim.ingest.web.password import (
    PASSWORD_FILE,
    Throttle,
    load_password,
    lock_seconds,
    set_password,
    verify_password,
)
from tests.ui.conftest import RunningUi

PASSWORD = "correct horse battery"


def test_the_cli_stores_only_a_salted_hash_owner_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    secret_file = tmp_path / "pw.txt"
    secret_file.write_text(PASSWORD + "\nignored second line\n", encoding="utf-8")
    result = CliRunner().invoke(ingest_app, ["ui", "--password-file", str(secret_file), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert f"UI password set for workspace {ws.resolve()}" in result.output
    assert PASSWORD not in result.output
    stored = ws / PASSWORD_FILE
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    text = stored.read_text(encoding="utf-8")
    assert PASSWORD not in text and json.loads(text)["scheme"] == "scrypt"
    record = load_password(ws)
    assert record is not None and verify_password(PASSWORD, record)
    assert not verify_password(PASSWORD + " ", record)
    # Set again: a new salt, so the same password never gives the same file.
    set_password(ws, PASSWORD)
    assert stored.read_text(encoding="utf-8") != text


def test_the_cli_asks_twice_without_echo_and_refuses_a_short_password(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    asked = CliRunner().invoke(
        ingest_app, ["ui", "--set-password", "-w", str(ws)], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert asked.exit_code == 0, asked.output
    assert PASSWORD not in asked.output and "Repeat it" in asked.output
    short = CliRunner().invoke(ingest_app, ["ui", "--set-password", "-w", str(ws)], input="short\nshort\n")
    assert isinstance(short.exception, ConfigError)
    assert "at least 10 characters" in str(short.exception)
    record = load_password(ws)
    assert record is not None and verify_password(PASSWORD, record)  # the old one still holds


def test_failed_attempts_lock_the_form_for_a_doubling_time() -> None:
    assert [lock_seconds(n) for n in range(1, 8)] == [0, 0, 0, 2, 4, 8, 16]
    assert lock_seconds(40) == 300
    throttle = Throttle()
    for _ in range(4):
        throttle.failed(now=100.0)
    assert throttle.wait_s(100.0) == 2.0 and throttle.wait_s(103.0) == 0.0
    throttle.succeeded()
    assert throttle.wait_s(100.0) == 0.0 and throttle.failures == 0


def test_password_sign_in_refuses_wrong_ones_then_locks_then_lets_the_right_one_in(
    ui_server: RunningUi,
) -> None:
    set_password(ui_server.settings.workspace, PASSWORD)
    client = httpx.Client(base_url=ui_server.url, headers={"Origin": ui_server.url})
    page = client.get("/login")
    assert 'action="/login/password"' in page.text
    for _ in range(4):
        wrong = client.post("/login/password", data={"password": "guess-guess"}, follow_redirects=False)
        assert wrong.status_code == 401
        assert "That password is not right for this workspace." in wrong.text
        assert "set-cookie" not in wrong.headers
    # Locked now: even the right password is not looked at until the wait is over.
    locked = client.post("/login/password", data={"password": PASSWORD}, follow_redirects=False)
    assert locked.status_code == 429 and "Too many failed attempts: wait 2 s" in locked.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    ui_server.settings.throttle.locked_until = 0.0  # the wait is over
    right = client.post("/login/password", data={"password": PASSWORD}, follow_redirects=False)
    assert right.status_code == 303 and "httponly" in right.headers["set-cookie"].lower()
    assert PASSWORD not in right.headers["set-cookie"]
    assert client.get("/").status_code == 200
    assert ui_server.settings.throttle.failures == 0


@pytest.mark.parametrize("content", ["not json", '{"scheme": "scrypt"}'])
def test_an_unreadable_password_file_says_how_to_fix_it(tmp_path: Path, content: str) -> None:
    (tmp_path / PASSWORD_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="--set-password"):
        load_password(tmp_path)
