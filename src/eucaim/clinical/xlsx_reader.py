"""Read an Excel workbook sheet, including merged (multi-row) headers and date serial numbers."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl

from eucaim.clinical.issues import Issue, Severity
from eucaim.clinical.table import Cell, SourceInfo, SourceRow, Table
from eucaim.errors import ClinicalDataError

HEADER_JOIN = " / "
MAX_TITLE_ROWS = 10


def _header_start(sheet: Any) -> int:
    """The first row naming two or more columns: title rows above it (one cell each) are skipped."""
    for row in range(1, min(sheet.max_row, MAX_TITLE_ROWS + 1) + 1):
        if sum(1 for cell in sheet[row] if cell.value not in (None, "")) >= 2:
            return row
    return 1


def _header_end(sheet: Any, start: int) -> int:
    """Last header row: as deep as the merges starting in ``start``, one more when it groups columns."""
    end = start
    for merged in sheet.merged_cells.ranges:
        if merged.min_row == start:
            end = max(end, merged.max_row)
            if merged.max_col > merged.min_col:
                end = max(end, start + 1)
    return end


def _merged_values(sheet: Any) -> dict[tuple[int, int], Any]:
    """Map every cell inside a merged range to the value of the range's top-left cell."""
    filled: dict[tuple[int, int], Any] = {}
    for merged in sheet.merged_cells.ranges:
        value = sheet.cell(merged.min_row, merged.min_col).value
        for row in range(merged.min_row, merged.max_row + 1):
            for col in range(merged.min_col, merged.max_col + 1):
                filled[(row, col)] = value
    return filled


def _native(value: Any) -> Cell:
    if isinstance(value, str):
        return value.strip()
    if value is None or isinstance(value, int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value  # type: ignore[no-any-return]
    return str(value)


def read_xlsx(path: Path, *, sheet: str | None = None) -> Table:
    """Read the named (or first) sheet; header rows are joined as ``Group / Column``."""
    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ClinicalDataError(
            f"cannot open {path.name} as an Excel workbook: {exc}",
            hint="save it from Excel as .xlsx (Excel 97-2003 .xls is not supported) or export CSV",
        ) from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise ClinicalDataError(
                f"{path.name} has no sheet {sheet!r}",
                hint=f"use one of: {', '.join(workbook.sheetnames)}",
            )
        ws = workbook[sheet] if sheet else workbook.worksheets[0]
        # openpyxl converts date-formatted cells itself; bare serials need the workbook's epoch.
        return _read_sheet(ws, path.name, excel_1904=workbook.epoch.year == 1904)
    finally:
        workbook.close()


def _read_sheet(ws: Any, name: str, *, excel_1904: bool) -> Table:
    start = _header_start(ws)
    height = _header_end(ws, start)
    merged = _merged_values(ws)
    width = ws.max_column
    columns: list[str] = []
    problems: list[Issue] = []
    for col in range(1, width + 1):
        parts: list[str] = []
        for row in range(start, height + 1):
            value = merged.get((row, col), ws.cell(row, col).value)
            text = str(value).strip() if value is not None else ""
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        label = HEADER_JOIN.join(parts) or f"column {col}"
        if label in columns:
            problems.append(
                Issue(
                    "duplicate-column",
                    f"column {label!r} appears twice in the header",
                    "rename or remove one of them",
                    row=height,
                    column=label,
                )
            )
            label = f"{label} ({col})"
        columns.append(label)
    rows: list[SourceRow] = []
    for number, values in enumerate(ws.iter_rows(min_row=height + 1, values_only=True), start=height + 1):
        cells = {columns[i]: _native(v) for i, v in enumerate(values[:width])}
        if all(v is None or v == "" for v in cells.values()):
            continue
        rows.append(SourceRow(number, cells))
    info = SourceInfo(
        name=name, format="xlsx", sheet=ws.title, header_rows=height - start + 1, excel_1904=excel_1904
    )
    if start > 1:
        problems.append(
            Issue(
                "title-rows",
                f"skipped {start - 1} row(s) above the header (row {start})",
                "check that the header row was found; delete title rows to silence this",
                severity=Severity.WARNING,
            )
        )
    if all(c.startswith("column ") for c in columns):
        raise ClinicalDataError(
            f"{name} sheet {ws.title!r} has no header row", hint="row 1 must name the columns"
        )
    return Table(source=info, columns=tuple(columns), rows=tuple(rows), problems=tuple(problems))
