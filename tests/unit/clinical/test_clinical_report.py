"""Reports of findings: CSV for Excel, a self-contained HTML page, and the terminal table."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from pathlib import Path

from rich.console import Console

from eucaim.clinical.linkage import ImagingStudy, link
from eucaim.clinical.loader import load_table
from eucaim.clinical.report import (
    issues_table,
    linkage_rows,
    linkage_table,
    render_csv,
    render_html,
    write_reports,
)
from eucaim.clinical.schema import load_schema
from eucaim.clinical.validation import validate

from .samples import SECRET, TODAY, check


def test_csv_and_html_reports_hold_every_finding(tmp_path: Path) -> None:
    result = check("cases_errors_utf8_bom.csv")
    csv_path, html_path = write_reports(result, tmp_path / "reports")
    assert csv_path.name == "cases_errors_utf8_bom-validation.csv"
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 correctly only with a BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == len(result.issues)
    sex = next(r for r in rows if r["rule"] == "code")
    assert (sex["severity"], sex["row"], sex["column"], sex["value"]) == ("error", "3", "sex", "X")
    page = html_path.read_text(encoding="utf-8")
    assert page.count("<tr>") == len(result.issues) + 1
    assert "nothing can be uploaded until they are fixed" in page


def test_html_is_self_contained_and_escapes_what_the_file_contains(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("patient_id,population,sex,topography\nP1,control,<script>alert(1)</script>,breast\n")
    page = render_html(validate(load_table(path), load_schema(), today=TODAY))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"(src|href)\s*=|https?://|@import", page)


def test_reports_never_contain_identifying_values(tmp_path: Path) -> None:
    result = check("cases_es_latin1.csv")  # without its mapping: names and birth dates present
    imaging = {"000123": [ImagingStudy("1.2.840.99.1", "MR")]}
    linkage = link(result.patient_rows(), imaging, secret=SECRET)
    csv_path, html_path = write_reports(result, tmp_path, linkage=linkage)
    console = Console(file=io.StringIO(), width=200)
    console.print(issues_table(result))
    console.print(linkage_table(linkage))
    texts = [csv_path.read_text("utf-8-sig"), html_path.read_text("utf-8"), console.file.getvalue()]  # type: ignore[attr-defined]
    for text in texts:
        for phi in ("María", "Núñez", "14/02/1961", "000123", "1.2.840.99.1"):
            assert phi not in text


def test_terminal_table_keeps_toml_brackets_in_hints_and_caps_long_lists() -> None:
    result = check("cases_errors_utf8_bom.csv")
    console = Console(file=io.StringIO(), width=250)
    console.print(issues_table(result, limit=3))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "under [columns]" in out
    assert f"{len(result.issues) - 3} more finding(s) in the CSV/HTML report" in out


def test_linkage_table_lists_problems_not_every_linked_patient() -> None:
    clinical = {f"P{n}": [n + 2] for n in range(300)}
    imaging = {f"P{n}": [ImagingStudy(f"1.2.{n}", "CT")] for n in range(1, 300)} | {
        "X9": [ImagingStudy("9", "MR")]
    }
    report = link(clinical, imaging, secret=SECRET)
    console = Console(file=io.StringIO(), width=200)
    console.print(linkage_table(report))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "imaging-only" in out and "clinical-only" in out
    assert "│ linked" not in out  # 299 linked patients are counted in the title, not listed
    assert "299 patient(s) linked" in out
    assert render_html(check("controls.tsv"), report).count("<td>linked</td>") == 299


def test_linkage_table_shows_original_ids_only_when_asked() -> None:
    report = link({"P1": [2]}, {"P2": [ImagingStudy("1.2.3", "CT")]}, secret=SECRET)
    hidden, shown = (Console(file=io.StringIO(), width=200) for _ in range(2))
    hidden.print(linkage_table(report))
    shown.print(linkage_table(report, show_ids=True))
    assert "P1" not in hidden.file.getvalue()  # type: ignore[attr-defined]
    assert "P1" in shown.file.getvalue() and "1.2.3" in shown.file.getvalue()  # type: ignore[attr-defined]


def test_empty_result_page_says_no_findings() -> None:
    result = check("controls.tsv")
    assert "No findings." in render_html(result)


def test_csv_report_cells_cannot_run_as_spreadsheet_formulas(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('patient_id,population,sex,topography\nP1,control,"=HYPERLINK(""http://x"")",breast\n')
    result = validate(load_table(path), load_schema(), today=TODAY)
    rows = list(csv.DictReader(io.StringIO(render_csv(result))))
    [bad] = [r for r in rows if r["rule"] == "code"]
    assert bad["value"].startswith("'=HYPERLINK")


def test_findings_serialise_for_the_node_problem_body() -> None:
    issue = check("cases_errors_utf8_bom.csv").errors[0]
    assert set(issue.as_json()) == {"severity", "row", "column", "value", "rule", "message", "hint"}
    assert json.loads(json.dumps(issue.as_json()))["rule"] == issue.rule


def test_linkage_rows_explain_a_date_gap_without_showing_dates() -> None:
    report = link(
        {"P1": [2]},
        {"P1": [ImagingStudy("1.2.3", "CT", date(2021, 1, 1))]},
        secret=SECRET,
        baselines={"P1": date(2020, 1, 1)},
    )
    [row] = linkage_rows(report)
    assert row[0] == "linked"
    assert row[4] == "nearest study is 366 days from the clinical baseline date"
