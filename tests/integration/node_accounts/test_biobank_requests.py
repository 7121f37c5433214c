"""Biobank requests end to end: asked from eucaim-ingest or the API, decided with eucaim-node or the API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from eucaim.errors import Conflict, UploadError
from eucaim.ingest.cli import app as ingest_app
from eucaim.ingest.cli.app import console as ingest_console
from eucaim.node.cli import app as node_app
from eucaim.node.cli.app import console as node_console
from tests.support.node_server import RunningNode, SeededNode, running_node

runner = CliRunner()


URL = "https://lung.example.org"


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide terminal, so each listed row stays on one line (narrow ones fold long cells)."""
    monkeypatch.setattr(ingest_console, "width", 160)
    monkeypatch.setattr(node_console, "width", 160)


def _ask(node: RunningNode, token: str, **body: object) -> httpx.Response:
    return httpx.post(f"{node.url}/biobank-requests", headers=node.auth(token), json=body)


def test_ask_in_the_tool_decide_on_the_node(tmp_path: Path, node_server: RunningNode) -> None:
    token = node_server.add_user("alice")
    ws = str(tmp_path / "ws")
    init = ["init", "--node", node_server.url, "--biobank", "LUNG-01", "--token", token, "-w", ws]
    assert runner.invoke(ingest_app, init).exit_code == 0

    asked = runner.invoke(
        ingest_app,
        [
            "biobank",
            "request",
            "--code",
            "LUNG-01",
            "--name",
            "Lung CT",
            "--url",
            "https://lung.example.org",
            "--description",
            "CT of 300 NSCLC patients",
            "-w",
            ws,
        ],
    )
    assert asked.exit_code == 0, asked.output
    assert asked.stdout.splitlines()[0] == "request 1 for biobank LUNG-01 is pending"
    asked_too = runner.invoke(
        ingest_app, ["biobank", "request", "--code", "BRAIN", "--name", "Brain", "-w", ws]
    )
    assert asked_too.exit_code == 0

    data = ["--data", str(node_server.data_dir)]
    listing = runner.invoke(
        node_app, ["request", "list", "--status", "pending", *data], env=node_server.cli_env
    )
    assert listing.exit_code == 0
    row = next(line for line in listing.stdout.splitlines() if "LUNG-01" in line)
    assert row.split() == ["1", "LUNG-01", "Lung", "CT", "alice", "pending", *row.split()[6:8], URL]

    approved = runner.invoke(node_app, ["request", "approve", "1", *data], env=node_server.cli_env)
    assert approved.exit_code == 0, approved.output
    assert "approved request 1: biobank LUNG-01 created, managed by alice" in approved.stdout
    declined = runner.invoke(
        node_app,
        ["request", "decline", "2", "--reason", "use LUNG-01 for it", *data],
        env=node_server.cli_env,
    )
    assert declined.exit_code == 0 and "declined request 2 (BRAIN) of alice" in declined.stdout

    again = runner.invoke(node_app, ["request", "approve", "1", *data], env=node_server.cli_env)
    assert isinstance(again.exception, Conflict) and "already approved" in str(again.exception)

    mine = runner.invoke(ingest_app, ["biobank", "requests", "-w", ws])
    assert mine.exit_code == 0
    lines = mine.stdout.splitlines()
    assert any("LUNG-01  Lung CT  approved" in line and "biobank LUNG-01 is yours" in line for line in lines)
    assert any("BRAIN    Brain    declined" in line and "use LUNG-01 for it" in line for line in lines)
    # The approval is a real biobank the requester manages.
    assert httpx.get(f"{node_server.url}/me", headers=node_server.auth(token)).json()["biobanks"] == [
        "LUNG-01"
    ]
    studies = httpx.get(f"{node_server.dicomweb_url('LUNG-01')}/studies", headers=node_server.auth(token))
    assert studies.status_code == 200


def test_requests_that_cannot_be_made(seeded_node: SeededNode, tmp_path: Path) -> None:
    node = seeded_node.node
    ingester, admin = seeded_node.ingester_token, seeded_node.admin_token
    taken = _ask(node, ingester, code="test-bb", name="x")
    assert taken.status_code == 409 and taken.json()["detail"] == "biobank 'test-bb' already exists"
    assert _ask(node, ingester, code="new-bb", name="x").status_code == 201
    twice = _ask(node, seeded_node.outsider_token, code="new-bb", name="y")
    assert twice.status_code == 409 and "already pending" in twice.json()["detail"]
    bad = _ask(node, ingester, code="no spaces", name="x")
    assert bad.status_code == 400 and "is invalid" in bad.json()["detail"]
    assert _ask(node, ingester, code="ok-bb", name="x", url="ftp://x").status_code == 400
    assert _ask(node, ingester, code="ok-bb", name="").status_code == 400
    validator = _ask(node, seeded_node.validator_token, code="v-bb", name="x")
    assert validator.status_code == 403 and "data ingesters do" in validator.json()["detail"]
    by_admin = _ask(node, admin, code="a-bb", name="x")
    assert by_admin.status_code == 403 and "eucaim-node biobank create" in by_admin.json()["hint"]

    # Declining needs a reason; the reason reaches the requester.
    pending = httpx.get(
        f"{node.url}/biobank-requests", params={"status": "pending"}, headers=node.auth(admin)
    )
    [request] = pending.json()["requests"]
    no_reason = httpx.post(
        f"{node.url}/biobank-requests/{request['id']}/decline", headers=node.auth(admin), json={"reason": " "}
    )
    assert no_reason.status_code == 400
    declined = httpx.post(
        f"{node.url}/biobank-requests/{request['id']}/decline",
        headers=node.auth(admin),
        json={"reason": "no DTA"},
    )
    assert declined.status_code == 200 and declined.json()["decided_by"] == "admin"
    mine = httpx.get(f"{node.url}/biobank-requests/{request['id']}", headers=node.auth(ingester)).json()
    assert (mine["status"], mine["reason"], mine["biobank"]) == ("declined", "no DTA", None)
    # Someone else's request is not there for an ingester.
    other = httpx.get(
        f"{node.url}/biobank-requests/{request['id']}", headers=node.auth(seeded_node.outsider_token)
    )
    assert other.status_code == 404
    assert httpx.get(
        f"{node.url}/biobank-requests", headers=node.auth(seeded_node.outsider_token)
    ).json() == {"requests": []}
    # A declined request can be asked for again.
    assert _ask(node, ingester, code="new-bb", name="x again").status_code == 201


def test_the_tool_shows_the_nodes_reason_when_refused(seeded_node: SeededNode, tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    init = [
        "init",
        "--node",
        seeded_node.url,
        "--biobank",
        "x",
        "--token",
        seeded_node.validator_token,
        "-w",
        ws,
    ]
    assert runner.invoke(ingest_app, init).exit_code == 0
    result = runner.invoke(ingest_app, ["biobank", "request", "--code", "v-bb", "--name", "x", "-w", ws])
    assert isinstance(result.exception, UploadError)
    assert "403" in str(result.exception) and "data ingesters do" in str(result.exception)


def test_requests_on_postgresql(tmp_path: Path, postgres_database: str) -> None:
    with running_node(tmp_path / "node", database_url=postgres_database) as node:
        ingester, admin = node.add_user("ida"), node.add_user("root", "admin")
        request_id = _ask(node, ingester, code="PG-1", name="On PostgreSQL").json()["id"]
        approved = httpx.post(f"{node.url}/biobank-requests/{request_id}/approve", headers=node.auth(admin))
        assert approved.status_code == 200 and approved.json()["biobank"] == "PG-1"
        assert httpx.get(f"{node.url}/me", headers=node.auth(ingester)).json()["biobanks"] == ["PG-1"]
        again = httpx.post(f"{node.url}/biobank-requests/{request_id}/approve", headers=node.auth(admin))
        assert again.status_code == 409
