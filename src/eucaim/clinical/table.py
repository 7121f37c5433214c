"""The raw table read from a clinical file, before any mapping or validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from eucaim.clinical.issues import Issue

# A cell as a reader produced it: text from CSV and JSON, native values from XLSX and JSON.
Cell = str | int | float | bool | date | datetime | None


@dataclass(frozen=True)
class SourceInfo:
    """How a file was read, so the user can see (and override) what was detected."""

    name: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header_rows: int = 1
    row_noun: str = "row"
    notes: tuple[str, ...] = ()
    excel_1904: bool = False  # the workbook's date serials count from 1904

    def describe(self) -> str:
        """One line for the terminal, e.g. ``csv, encoding cp1252, delimiter ';'``."""
        parts = [self.format]
        if self.encoding:
            parts.append(f"encoding {self.encoding}")
        if self.delimiter:
            shown = "tab" if self.delimiter == "\t" else repr(self.delimiter)
            parts.append(f"delimiter {shown}")
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.header_rows > 1:
            parts.append(f"{self.header_rows} header rows")
        return ", ".join(parts)


@dataclass(frozen=True)
class SourceRow:
    """One data row; ``number`` is where the user finds it (spreadsheet row or JSON record)."""

    number: int
    cells: Mapping[str, Cell]


@dataclass(frozen=True)
class Table:
    """Columns in file order and the non-empty data rows, plus problems found while reading."""

    source: SourceInfo
    columns: tuple[str, ...]
    rows: tuple[SourceRow, ...]
    problems: tuple[Issue, ...] = field(default=())
