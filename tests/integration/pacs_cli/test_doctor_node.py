"""`eucaim-ingest doctor` against a real node (plain and TLS 1.3) and the Orthanc PACS."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from eucaim.ingest.cli import app
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.doctor import Check, run_checks
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import make_workspace
from tests.support.certs import make_certificates
from tests.support.node_server import RunningNode, SeededNode, running_node
from tests.support.orthanc import OrthancServer, free_port

pytestmark = pytest.mark.integration

runner = CliRunner()
NO_PROXY_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy in the test machine's environment must not route loopback requests away.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def doctor(ws: Path) -> Result:
    return runner.invoke(app, ["doctor", "--workspace", str(ws)])


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def workspace_for(tmp_path: Path, url: str, biobank: str, token: str, ca: Path | None = None) -> Path:
    ws = tmp_path / "ws"
    node = NodeConfig(url=url, biobank=biobank, ca_bundle=str(ca) if ca else None)
    with Workspace.create(ws, node, token=token):
        pass
    return ws


def test_all_green_against_a_seeded_node_and_the_pacs(
    seeded_node: SeededNode, orthanc: OrthancServer, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws", orthanc, node_url=seeded_node.url, biobank=seeded_node.biobank,
                        token=seeded_node.ingester_token)  # fmt: skip

    result = doctor(ws)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in ("node reachable", "TLS", "proxy", "token", "biobank rights", "PACS", "receiver port",
                 "disk space", "site secret", "de-identification profile"):  # fmt: skip
        assert any(line.startswith(f"✓ {name}:") for line in lines), (name, result.stdout)
    assert "can search and store into biobank test-bb" in result.stdout
    assert "C-ECHO to ORTHANC at 127.0.0.1" in result.stdout
    assert "all 10 checks passed" in result.stdout
    assert seeded_node.ingester_token not in result.stdout


def test_a_wrong_token_is_red_with_a_hint(seeded_node: SeededNode, tmp_path: Path) -> None:
    ws = workspace_for(tmp_path, seeded_node.url, seeded_node.biobank, "not-a-valid-token")

    result = doctor(ws)

    assert result.exit_code == 1
    assert "✗ token: the node refused the token (401)" in result.stdout
    assert "ask the node administrator for a new API token" in " ".join(result.stdout.split())
    assert "eucaim-ingest login" in result.stdout
    assert "– biobank rights: not checked: the token was refused" in result.stdout
    assert "✓ node reachable" in result.stdout


def test_unknown_biobank_and_no_rights_are_red(seeded_node: SeededNode, tmp_path: Path) -> None:
    unknown = run_checks(
        workspace_for(tmp_path / "a", seeded_node.url, "no-such-bb", seeded_node.ingester_token)
    )
    outsider = run_checks(
        workspace_for(tmp_path / "b", seeded_node.url, "test-bb", seeded_node.outsider_token)
    )
    reader = run_checks(
        workspace_for(tmp_path / "c", seeded_node.url, "test-bb", seeded_node.validator_token)
    )

    assert by_name(unknown)["token"].ok
    assert not by_name(unknown)["biobank rights"].ok
    assert "no biobank no-such-bb (404)" in by_name(unknown)["biobank rights"].detail
    assert "refused access to biobank test-bb (403)" in by_name(outsider)["biobank rights"].detail
    # A validator may search the biobank but not store into it.
    assert "can search biobank test-bb but not store into it" in by_name(reader)["biobank rights"].detail
    assert not by_name(reader)["biobank rights"].ok


def test_node_down_is_red_and_dependent_lines_are_skipped(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = doctor(workspace_for(tmp_path, url, "bb", "token"))

    assert result.exit_code == 1
    assert f"✗ node reachable: {url}: ConnectError" in result.stdout
    assert "→ check the node URL, that the node runs" in result.stdout
    assert "– token: not checked: the node cannot be reached" in result.stdout
    assert "– PACS: none configured" in result.stdout
    assert "✓ site secret" in result.stdout and "✓ de-identification profile: eucaim" in result.stdout


@pytest.fixture
def tls_node(tmp_path: Path) -> Iterator[tuple[RunningNode, str, Path]]:
    certs = make_certificates(tmp_path / "certs")
    with running_node(tmp_path / "tls-node", tls_cert=certs.cert_pem, tls_key=certs.key_pem) as node:
        token = node.add_user("ingester")
        node.create_biobank("tls-bb", managers=["ingester"])
        yield node, token, certs.ca_pem


def test_tls_node_shows_version_and_certificate(
    tls_node: tuple[RunningNode, str, Path], tmp_path: Path
) -> None:
    node, token, ca = tls_node
    url = node.url.replace("127.0.0.1", "localhost")

    checks = by_name(run_checks(workspace_for(tmp_path, url, "tls-bb", token, ca), env=NO_PROXY_ENV))

    assert checks["node reachable"].ok, checks["node reachable"]
    assert checks["TLS"].detail.startswith("TLS 1.3, certificate commonName=localhost, valid until ")
    # The test certificate lives one day: an ok line, with a warning to renew it.
    assert checks["TLS"].ok and checks["TLS"].warning
    assert "(0 days)" in checks["TLS"].detail
    assert "expires soon" in checks["TLS"].hint
    assert checks["token"].ok and checks["biobank rights"].ok


def test_tls_node_with_an_untrusted_certificate_says_to_pass_its_ca(
    tls_node: tuple[RunningNode, str, Path], tmp_path: Path
) -> None:
    node, token, _ca = tls_node

    result = doctor(workspace_for(tmp_path, node.url, "tls-bb", token))

    assert result.exit_code == 1
    assert "✗ node reachable" in result.stdout
    assert "✗ TLS:" in result.stdout and "CERTIFICATE_VERIFY_FAILED" in result.stdout
    assert "--ca-bundle" in result.stdout


def test_a_proxy_with_credentials_is_shown_without_them(seeded_node: SeededNode, tmp_path: Path) -> None:
    env = {"HTTP_PROXY": "http://alice:s3cret@proxy.hospital.example:3128", "NO_PROXY": "127.0.0.1,localhost"}

    checks = by_name(
        run_checks(workspace_for(tmp_path, seeded_node.url, "test-bb", seeded_node.ingester_token), env=env)
    )

    assert "s3cret" not in checks["proxy"].detail and "alice" not in checks["proxy"].detail
    assert "NO_PROXY lists 127.0.0.1: direct connection" in checks["proxy"].detail
    assert os.environ.get("HTTP_PROXY") is None


def test_a_busy_receiver_port_is_a_warning(orthanc: OrthancServer, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", orthanc)
    with socket.socket() as busy:
        # Earlier receivers on this port leave TIME_WAIT sockets; a listening server binds past them.
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("0.0.0.0", orthanc.receiver_port))
        busy.listen()

        check = by_name(run_checks(ws, env=NO_PROXY_ENV))["receiver port"]

    assert check.status == "warning"
    assert f"port {orthanc.receiver_port} is in use" in check.detail
    assert "eucaim-ingest receive" in check.hint
