"""Read any supported clinical file (CSV, TSV, XLSX, JSON, JSON Lines) into a raw table."""

from __future__ import annotations

from pathlib import Path

from eucaim.clinical.csv_reader import read_csv
from eucaim.clinical.json_reader import read_json
from eucaim.clinical.table import Table
from eucaim.clinical.xlsx_reader import read_xlsx
from eucaim.errors import ClinicalDataError

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


def load_table(
    path: Path, *, encoding: str | None = None, delimiter: str | None = None, sheet: str | None = None
) -> Table:
    """Read ``path`` by suffix; ``encoding``, ``delimiter`` (CSV) and ``sheet`` (XLSX) skip detection."""
    if not path.is_file():
        raise ClinicalDataError(f"clinical file {path} does not exist", hint="check the path")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind == "csv":
        return read_csv(path, encoding=encoding, delimiter=delimiter)
    if kind == "xlsx":
        return read_xlsx(path, sheet=sheet)
    if kind == "json":
        return read_json(path)
    raise ClinicalDataError(
        f"cannot read {path.name}: unsupported file type {path.suffix!r}",
        hint="use CSV (.csv, .tsv), Excel (.xlsx) or JSON (.json, .jsonl)",
    )
