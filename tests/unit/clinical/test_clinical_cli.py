"""`eucaim-ingest clinical template|validate` as a data manager runs them."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import eucaim.ingest.cli.clinical as clinical_cli
from eucaim.clinical.linkage import ImagingStudy, WorkspaceImaging
from eucaim.deid.pseudonym import derive_patient_pseudonym
from eucaim.errors import ClinicalDataError, ConfigError
from eucaim.ingest.cli.app import app

from .samples import SECRET, data_file

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps at the terminal width; compare words, not line breaks."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EUCAIM_INGEST_WORKSPACE", raising=False)
    yield
    clinical_cli.register_imaging_provider(None)


def test_template_writes_three_files_and_says_what_next(tmp_path: Path) -> None:
    result = runner.invoke(app, ["clinical", "template", "site"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "site").iterdir())
    assert names == ["clinical-example.csv", "clinical-mapping.toml", "clinical-template.csv"]
    assert "eucaim-ingest clinical validate FILE --mapping clinical-mapping.toml" in _flat(result.stdout)


def test_template_refuses_to_overwrite(tmp_path: Path) -> None:
    assert runner.invoke(app, ["clinical", "template"]).exit_code == 0
    result = runner.invoke(app, ["clinical", "template"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    assert "--force" in str(result.exception)


def test_validate_with_errors_exits_1_and_writes_the_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["clinical", "validate", str(data_file("cases_errors_utf8_bom.csv"))])
    assert result.exit_code == 1
    out = _flat(result.stdout)
    assert "read cases_errors_utf8_bom.csv as csv, encoding utf-8-sig, delimiter ';'" in out
    assert (
        "cases_errors_utf8_bom.csv: 10 error(s) in 5 of 6 rows, 1 warning(s) (eucaim-minimum 1.0); "
        "nothing can be uploaded until they are fixed" in out
    )
    assert "identifying-column" in out and "duplicate-patient" in out
    assert "clinical data is not ready for upload" in result.stderr
    assert (tmp_path / "cases_errors_utf8_bom-validation.csv").is_file()
    assert (tmp_path / "cases_errors_utf8_bom-validation.html").is_file()


def test_validate_clean_file_with_mapping_exits_0(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "clinical", "validate", str(data_file("cases_es_latin1.csv")),
            "--mapping", str(data_file("cases_es_mapping.toml")), "--report-dir", "out",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "read cases_es_latin1.csv as csv, encoding cp1252, delimiter ';'" in out
    assert "cases_es_latin1.csv: 3 rows valid against eucaim-minimum 1.0, 1 warning(s)" in out
    assert (tmp_path / "out" / "cases_es_latin1-validation.html").is_file()
    assert result.stderr == ""


def _workspace_with_images(
    tmp_path: Path, patients: dict[str, list[ImagingStudy]], pseudonym_format: str = "EUCAIM-{hex}"
) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()

    def provider(path: Path) -> WorkspaceImaging | None:
        if path != workspace:
            return None
        return WorkspaceImaging(secret=SECRET, studies=patients, pseudonym_format=pseudonym_format)

    clinical_cli.register_imaging_provider(provider)
    return workspace


def test_validate_shows_linkage_and_fails_on_rows_without_images(tmp_path: Path) -> None:
    mr = ImagingStudy("1.2.826.0.1.77.1", "MR")
    workspace = _workspace_with_images(tmp_path, {"000123": [mr], "000456": [mr], "000999": [mr]})
    args = [
        "clinical", "validate", str(data_file("cases_es_latin1.csv")),
        "--mapping", str(data_file("cases_es_mapping.toml")), "--workspace", str(workspace),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    out = _flat(result.stdout)
    assert (
        "linkage: 2 patient(s) linked to 2 study(ies), 1 with images but no clinical row, "
        "1 clinical row(s) without images" in out
    )
    assert "000123" not in out and "1.2.826.0.1.77.1" not in out  # pseudonyms unless --show-ids
    assert (workspace / "reports" / "cases_es_latin1-validation.html").is_file()

    allowed = runner.invoke(app, [*args, "--allow-clinical-only", "--show-ids"])
    assert allowed.exit_code == 0, allowed.output
    assert "000789" in allowed.stdout


def test_validate_without_workspace_skips_linkage(tmp_path: Path) -> None:
    _workspace_with_images(tmp_path, {})
    result = runner.invoke(app, ["clinical", "validate", str(data_file("controls.tsv"))])
    assert result.exit_code == 0, result.output
    assert "linkage:" not in result.stdout


def test_unreadable_file_is_an_error_for_main_to_print(tmp_path: Path) -> None:
    shutil.copy(data_file("controls.tsv"), tmp_path / "controls.sav")
    result = runner.invoke(app, ["clinical", "validate", "controls.sav"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ClinicalDataError)
    assert "unsupported file type" in str(result.exception)


def test_encoding_and_delimiter_options_override_detection() -> None:
    args = ["clinical", "validate", str(data_file("cases_es_latin1.csv"))]
    args += ["--mapping", str(data_file("cases_es_mapping.toml"))]
    result = runner.invoke(app, [*args, "--encoding", "latin-1", "--delimiter", ";"])
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "as csv, encoding latin-1, delimiter ';'" in out
    assert "3 rows valid against eucaim-minimum 1.0 report:" in out  # no encoding warning any more
    wrong = runner.invoke(app, [*args, "--delimiter", "tab"])
    assert wrong.exit_code == 1  # one column: nothing matches, every required field missing
    assert "missing-column" in _flat(wrong.stdout)


def test_unknown_schema_is_a_config_error() -> None:
    result = runner.invoke(app, ["clinical", "validate", str(data_file("controls.tsv")), "--schema", "nope"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)


def test_no_identifying_value_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    result = runner.invoke(app, ["-v", "clinical", "validate", str(data_file("cases_es_latin1.csv"))])
    assert result.exit_code == 1
    assert "validated cases_es_latin1.csv" in caplog.text
    for phi in ("000123", "María", "Núñez", "14/02/1961", "García"):
        assert phi not in caplog.text


def test_preview_prints_exactly_the_records_that_would_leave(tmp_path: Path) -> None:
    workspace = _workspace_with_images(tmp_path, {}, pseudonym_format="SITE7-{hex}")
    args = ["clinical", "preview", str(data_file("cases_es_latin1.csv"))]
    args += ["--mapping", str(data_file("cases_es_mapping.toml")), "--workspace", str(workspace)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["subject"] for r in records] == [
        derive_patient_pseudonym(SECRET, pid, fmt="SITE7-{hex}") for pid in ("000123", "000456", "000789")
    ]
    for phi in ("000123", "María", "Núñez", "1961", "antecedentes"):
        assert phi not in result.stdout

    written = runner.invoke(
        app,
        [
            *args,
            "--out",
            "records.jsonl",
            "--baseline",
            "date_radiological_detection",
            "--baseline",
            "acquisition_date",
        ],
    )
    assert written.exit_code == 0, written.output
    lines = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["fields"]["date_radiological_detection"] == 0
    assert "wrote 3 record(s) to records.jsonl" in written.stdout


def test_preview_needs_a_workspace_secret_and_a_valid_file(tmp_path: Path) -> None:
    no_ws = runner.invoke(app, ["clinical", "preview", str(data_file("controls.tsv"))])
    assert no_ws.exit_code == 1
    assert isinstance(no_ws.exception, ConfigError)
    assert "pseudonyms need its site secret" in str(no_ws.exception)
    workspace = _workspace_with_images(tmp_path, {})
    invalid = runner.invoke(
        app,
        ["clinical", "preview", str(data_file("cases_errors_utf8_bom.csv")), "--workspace", str(workspace)],
    )
    assert invalid.exit_code == 1
    assert isinstance(invalid.exception, ClinicalDataError)
    assert invalid.stdout == ""


def test_help_keeps_every_default_visible() -> None:
    result = runner.invoke(app, ["clinical", "validate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    out = _flat(result.stdout)
    assert "CSV text encoding, e.g. cp1252 (default: detected)." in out
    assert "else the current folder)." in out
