"""Show validation findings and linkage: a rich table for the terminal, a CSV and a self-contained HTML."""

from __future__ import annotations

import csv
import html
import io
import logging
from pathlib import Path

from rich.table import Table as RichTable
from rich.text import Text

from eucaim.clinical.issues import Issue
from eucaim.clinical.linkage import LinkageReport, LinkStatus, PatientLink
from eucaim.clinical.validation import ValidationResult

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("severity", "row", "column", "value", "rule", "message", "hint")
HIDDEN = "(hidden: identifying)"


def _cells(issue: Issue, noun: str) -> tuple[str, ...]:
    row = "" if issue.row is None else f"{noun} {issue.row}" if noun != "row" else str(issue.row)
    value = "" if issue.value is None else issue.value
    return (issue.severity.value, row, issue.column or "", value, issue.rule, issue.message, issue.hint)


def issues_table(result: ValidationResult, *, limit: int | None = 200) -> RichTable:
    """The findings as a terminal table; ``limit`` keeps a hopeless file from flooding the screen.

    Cells are ``Text``, never markup: hints quote TOML such as ``[columns]``, which markup would eat.
    """
    table = RichTable(title=f"{result.source.name}: {result.source.describe()}", show_lines=True)
    table.add_column("row", no_wrap=True)
    table.add_column("column", overflow="fold", max_width=24)
    table.add_column("value", overflow="fold", max_width=20)
    table.add_column("rule: problem → fix", overflow="fold", ratio=1)
    shown = result.issues if limit is None else result.issues[:limit]
    for issue in shown:
        _, row, column, value, rule, message, hint = _cells(issue, result.source.row_noun)
        label = rule if issue.is_error else f"{rule} (warning)"
        problem = Text(label, style="bold red" if issue.is_error else "bold yellow")
        problem.append(f": {message}")
        problem.append(f"\n→ {hint}", style="dim")
        table.add_row(Text(row), Text(column), Text(value), problem)
    if limit is not None and len(result.issues) > limit:
        table.caption = f"{len(result.issues) - limit} more finding(s) in the CSV/HTML report"
    return table


def _inert(cell: str) -> str:
    """Keep a spreadsheet from running a cell that starts like a formula (CSV injection)."""
    if cell[:1] in {"=", "+", "@", "\t", "\r"} or (cell[:1] == "-" and not cell[1:2].isdigit()):
        return "'" + cell
    return cell


def render_csv(result: ValidationResult) -> str:
    """All findings as CSV text, one per line, header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for issue in result.issues:
        writer.writerow([_inert(c) for c in _cells(issue, result.source.row_noun)])
    return out.getvalue()


def _study_text(link: PatientLink, show_ids: bool) -> str:
    if not link.studies:
        return ""
    modalities = sorted({s.modality for s in link.studies if s.modality})
    text = f"{len(link.studies)} ({', '.join(modalities)})"
    if show_ids:
        text += ": " + ", ".join(s.study_uid for s in link.studies)
    return text


def linkage_rows(report: LinkageReport, *, show_ids: bool = False) -> list[tuple[str, ...]]:
    """One tuple per patient that needs attention or is linked: status, patient, rows, studies, note."""
    rows: list[tuple[str, ...]] = []
    order = (LinkStatus.IMAGING_ONLY, LinkStatus.CLINICAL_ONLY, LinkStatus.LINKED)
    far = report.far_from_images()
    for status in order:
        for entry in report.with_status(status):
            who = entry.patient_id if show_ids else entry.pseudonym or "(secret unavailable)"
            note = ""
            if entry.near_match is not None:
                other = f" ({entry.near_match})" if show_ids else ""
                note = f"an ID on the other side differs only in case or leading zeros{other}"
            if entry in far:
                gap = f"nearest study is {entry.date_gap_days} days from the clinical baseline date"
                note = f"{note}; {gap}" if note else gap
            numbers = ", ".join(map(str, entry.rows))
            rows.append((status.value, who, numbers, _study_text(entry, show_ids), note))
    for collision in report.collisions:
        ids = ", ".join(collision.patient_ids) if show_ids else f"{len(collision.patient_ids)} IDs"
        rows.append(("collision", collision.pseudonym, "", "", f"share one pseudonym: {ids}"))
    return rows


LINKAGE_COLUMNS = ("status", "patient", "clinical rows", "studies", "note")


def linkage_table(report: LinkageReport, *, show_ids: bool = False, limit: int | None = 200) -> RichTable:
    """The patients that need attention (plain linked ones are only counted: the HTML lists them)."""
    table = RichTable(title=report.summary())
    for name in LINKAGE_COLUMNS:
        table.add_column(name, overflow="fold")
    rows = [r for r in linkage_rows(report, show_ids=show_ids) if r[0] != LinkStatus.LINKED or r[4]]
    for row in rows if limit is None else rows[:limit]:
        table.add_row(*(Text(cell) for cell in row))
    if limit is not None and len(rows) > limit:
        table.caption = f"{len(rows) - limit} more patient(s) in the HTML report"
    return table


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}.error{color:#b00020;font-weight:bold}.warning{color:#a15c00}
.ok{color:#1b6e20}
"""


def _html_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cls = f' class="{html.escape(row[0])}"' if row and row[0] in {"error", "warning"} else ""
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row[1:])
        body.append(f"<tr><td{cls}>{html.escape(row[0])}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(result: ValidationResult, linkage: LinkageReport | None = None) -> str:
    """A standalone HTML page (inline CSS, no scripts or external assets) with all findings."""
    title = f"Clinical data check: {result.source.name}"
    status = "ok" if result.is_valid else "error"
    rows = [_cells(i, result.source.row_noun) for i in result.issues]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Read as {html.escape(result.source.describe())}; schema "
        f"{html.escape(result.schema.name)} {html.escape(result.schema.version)}.</p>",
        f'<p class="{status}">{html.escape(result.summary())}</p>',
        _html_table(CSV_COLUMNS, rows) if rows else "<p>No findings.</p>",
    ]
    if linkage is not None:
        parts += [
            "<h2>Linkage with imaging</h2>",
            f"<p>{html.escape(linkage.summary())}</p>",
            _html_table(LINKAGE_COLUMNS, linkage_rows(linkage)),
        ]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_reports(
    result: ValidationResult, directory: Path, *, linkage: LinkageReport | None = None
) -> tuple[Path, Path]:
    """Write ``<file stem>-validation.csv`` (UTF-8 with BOM, for Excel) and ``.html``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = Path(result.source.name).stem
    csv_path = directory / f"{stem}-validation.csv"
    html_path = directory / f"{stem}-validation.html"
    csv_path.write_text(render_csv(result), encoding="utf-8-sig", newline="")
    html_path.write_text(render_html(result, linkage), encoding="utf-8")
    logger.info("wrote clinical validation report %s and %s", csv_path, html_path)
    return csv_path, html_path
