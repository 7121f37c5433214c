"""`eucaim-ingest doctor` on an XNAT workspace: login, version, rights and prearchive mode checked."""

from __future__ import annotations

from datetime import UTC, datetime

from eucaim.ingest.doctor import run_checks
from eucaim.ingest.workspace import Workspace

from .conftest import XnatSite


def test_doctor_on_an_xnat_workspace_is_green(ws: Workspace, xnat_site: XnatSite) -> None:
    checks = run_checks(ws.path, env={}, now=datetime.now(UTC))
    names = [c.name for c in checks]
    assert any("version" in n.lower() for n in names)
    failing = [(c.name, c.detail) for c in checks if not c.ok]
    assert failing == []


def test_doctor_on_a_read_only_xnat_project_says_so(ws: Workspace, xnat_site: XnatSite) -> None:
    xnat_site.emulator.add_user("reader", "reader-pw", roles={xnat_site.project: "collaborator"})
    from eucaim.ingest.config import save_config

    (ws.path / "token").write_text("reader-pw\n")
    ws.config.node.username = "reader"
    save_config(ws.path, ws.config)
    checks = run_checks(ws.path, env={}, now=datetime.now(UTC))
    failing = [c for c in checks if not c.ok]
    assert failing, [c.name for c in checks]
    assert any(c.hint for c in failing)
