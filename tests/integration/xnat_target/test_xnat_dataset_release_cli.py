"""`eucaim-ingest dataset release` on an XNAT workspace sets the project's accessibility."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from eucaim.ingest.cli import app
from eucaim.ingest.pipeline.runner import push
from eucaim.ingest.workspace import Workspace

from .conftest import OPTIONS, XnatSite, fast_target

pytestmark = pytest.mark.integration


def test_release_command_refuses_then_protects_then_publishes(ws: Workspace, xnat_site: XnatSite) -> None:
    runner = CliRunner()
    args = ["dataset", "release", "--workspace", str(ws.path)]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0
    assert xnat_site.emulator.project(xnat_site.project).accessibility.value == "private"

    assert push(ws, fast_target(ws), OPTIONS).ok
    done = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "set from private to protected" in done.stdout
    public = runner.invoke(app, [*args, "--public"], env={"COLUMNS": "200"})
    assert public.exit_code == 0, public.output
    assert xnat_site.emulator.project(xnat_site.project).accessibility.value == "public"
