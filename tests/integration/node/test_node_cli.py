"""The eucaim-node program as users run it: user add, biobank create, db upgrade, serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eucaim.node.migration import head_revision

NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]


def _run(
    *args: str, data: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")} | (env or {})
    extra = ["--data", str(data)] if data is not None else []
    return subprocess.run([*NODE, *args, *extra], capture_output=True, text=True, env=full_env, timeout=60)


def test_user_add_prints_the_token_last_and_biobank_create_names_managers(tmp_path: Path) -> None:
    added = _run("user", "add", "alice", "--role", "data-ingester", data=tmp_path)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("eucaim_") and " " not in token and len(token) > 40
    created = _run("biobank", "create", "bb-1", "--name", "Lung CT", "--manager", "alice", data=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "created biobank bb-1 managed by alice" in created.stdout
    # The token is stored hashed: it appears nowhere in the database file.
    assert token.encode() not in (tmp_path / "node.db").read_bytes()


def test_biobank_with_unknown_manager_fails_clearly(tmp_path: Path) -> None:
    result = _run("biobank", "create", "bb-1", "--name", "x", "--manager", "nobody", data=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: user 'nobody' does not exist (create it with `eucaim-node user add`)"
    )
    assert result.stdout == ""


def test_duplicate_user_and_bad_role_and_bad_code_fail(tmp_path: Path) -> None:
    assert _run("user", "add", "bob", "--role", "admin", data=tmp_path).returncode == 0
    again = _run("user", "add", "bob", "--role", "admin", data=tmp_path)
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: user 'bob' already exists (pick another name)",
    )
    bad_role = _run("user", "add", "carol", "--role", "boss", data=tmp_path)
    assert bad_role.returncode == 2
    assert "data-ingester" in bad_role.stderr
    bad_code = _run("biobank", "create", "no spaces", "--name", "x", "--manager", "bob", data=tmp_path)
    assert bad_code.returncode == 2
    assert "biobank code 'no spaces' is invalid" in bad_code.stderr


def test_data_folder_comes_from_the_environment(tmp_path: Path) -> None:
    result = _run("db", "upgrade", env={"EUCAIM_NODE_DATA": str(tmp_path / "from-env")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"database schema at revision {head_revision()}"
    assert (tmp_path / "from-env" / "node.db").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(60)
def test_serve_answers_with_tokens_made_by_the_cli(tmp_path: Path) -> None:
    token = _run("user", "add", "val", "--role", "validator", data=tmp_path).stdout.strip().splitlines()[-1]
    assert _run("user", "add", "ing", "--role", "data-ingester", data=tmp_path).returncode == 0
    assert _run("biobank", "create", "bb", "--name", "B", "--manager", "ing", data=tmp_path).returncode == 0
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    server = subprocess.Popen(
        [*NODE, "serve", "--data", str(tmp_path), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "eucaim-node serve did not come up"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        studies = httpx.get(
            f"http://127.0.0.1:{port}/biobanks/bb/dicom-web/studies",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (studies.status_code, studies.json()) == (200, [])
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_processes_starting_together_migrate_in_turn(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    procs = [
        subprocess.Popen(
            [*NODE, "db", "upgrade", "--data", str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], results
