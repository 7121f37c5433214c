"""`profiles`, `profile show`, `check` and `vault export` as a data manager sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eucaim.dicom.synthetic import generate_cohort, write_malformed_examples
from eucaim.ingest.cli import app
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.workspace import Workspace

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def test_profiles_lists_the_builtins_and_the_default() -> None:
    result = runner.invoke(app, ["profiles"])
    assert result.exit_code == 0, result.output
    assert "ps315-basic" in result.stdout and "eucaim (default)" in result.stdout


def test_profile_show_prints_rules_and_what_happens_to_the_rest() -> None:
    result = runner.invoke(app, ["profile", "show", "ps315-basic"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "PatientName" in result.stdout and "default-deny" in flat(result.stdout)


def test_unknown_profile_is_a_clear_error() -> None:
    result = runner.invoke(app, ["profile", "show", "no-such-profile"])
    assert result.exit_code != 0


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    cohort = generate_cohort(tmp_path / "c", patients=2, slices=(2, 2))
    write_malformed_examples(cohort.root / "bad")
    with Workspace.create(
        tmp_path / "ws", NodeConfig(url="http://127.0.0.1:1", biobank="B"), token="t"
    ) as ws:
        scan_paths(ws.state, [cohort.root])
    return tmp_path


def test_check_previews_per_tag_and_lists_quarantines(workspace: Path) -> None:
    args = ["check", str(workspace / "c" / "dicom"), "--workspace", str(workspace / "ws")]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "PatientName" in out and "2 patients" in out
    assert "truncated" in out  # the damaged file will not be sent, and says why


def test_vault_export_needs_an_explicit_authorisation(workspace: Path) -> None:
    result = runner.invoke(app, ["vault", "export", "--workspace", str(workspace / "ws")])
    assert result.exit_code == 1
