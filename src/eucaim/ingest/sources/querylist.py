"""Read a CSV or XLSX list of patient IDs, accession numbers or study UIDs into study queries.

Data managers get these lists from the hospital's research office, usually as a spreadsheet.
The header row is recognised by name (``PatientID``, ``Accession Number``, ``study_uid``, …,
in any case and spacing); optional columns ``Modality``, ``StudyDate`` (a date or a
``YYYYMMDD-YYYYMMDD`` range), ``DateFrom`` and ``DateTo`` narrow each row. A file without a
header is accepted when it has one column and the caller says what that column holds. Errors
name the file, the row (as the spreadsheet numbers it) and the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from zipfile import BadZipFile

from eucaim.errors import ConfigError
from eucaim.ingest.sources.query import StudyQuery


class QueryColumn(StrEnum):
    """What a column of a query list holds."""

    PATIENT_ID = "patient_id"
    ACCESSION_NUMBER = "accession_number"
    STUDY_UID = "study_uid"
    MODALITY = "modality"
    STUDY_DATE = "study_date"
    DATE_FROM = "date_from"
    DATE_TO = "date_to"


IDENTIFYING = (QueryColumn.PATIENT_ID, QueryColumn.ACCESSION_NUMBER, QueryColumn.STUDY_UID)

_HEADER_NAMES: dict[str, QueryColumn] = {
    **dict.fromkeys(("patientid", "patient", "pid", "patid", "nhc", "mrn"), QueryColumn.PATIENT_ID),
    **dict.fromkeys(
        ("accessionnumber", "accession", "accessionno", "accno", "acc", "accessionnr"),
        QueryColumn.ACCESSION_NUMBER,
    ),
    **dict.fromkeys(("studyinstanceuid", "studyuid", "suid", "studyinstance"), QueryColumn.STUDY_UID),
    **dict.fromkeys(("modality", "modalitiesinstudy", "modalities"), QueryColumn.MODALITY),
    **dict.fromkeys(("studydate", "date"), QueryColumn.STUDY_DATE),
    **dict.fromkeys(("datefrom", "from", "startdate", "fromdate"), QueryColumn.DATE_FROM),
    **dict.fromkeys(("dateto", "to", "enddate", "todate"), QueryColumn.DATE_TO),
}
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_DA_RANGE = re.compile(r"^(\d{8})?\s*-\s*(\d{8})?$")
_EXPECTED = "PatientID, AccessionNumber or StudyInstanceUID"


class QueryListError(ConfigError):
    """A query list cannot be used; ``row`` is 1-based as in a spreadsheet, ``column`` its header."""

    def __init__(
        self, message: str, *, path: Path, row: int | None = None, column: str | None = None, hint: str = ""
    ) -> None:
        where = f"{path.name}" + (f", row {row}" if row else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.row = row
        self.column = column


def read_query_list(
    path: Path, *, default_column: QueryColumn | None = None, sheet: str | None = None
) -> list[StudyQuery]:
    """Return one query per data row of a ``.csv``/``.tsv``/``.txt`` or ``.xlsx`` file, duplicates dropped.

    ``default_column`` says what a header-less single-column file holds. ``sheet`` picks an
    XLSX worksheet (default: the first). Raises QueryListError on anything unusable.
    """
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm"}:
            rows = _read_xlsx(path, sheet)
        elif suffix in {".csv", ".tsv", ".txt"}:
            rows = _read_csv(path)
        else:
            raise QueryListError(
                f"unsupported file type {suffix or '(none)'}",
                path=path,
                hint="save the list as .csv or .xlsx",
            )
    except OSError as exc:
        raise QueryListError(f"cannot read the file: {exc.strerror}", path=path) from exc
    return parse_rows(rows, path=path, default_column=default_column)


def parse_rows(
    rows: Sequence[Sequence[str]], *, path: Path, default_column: QueryColumn | None = None
) -> list[StudyQuery]:
    """Turn the cell texts of a list (first row possibly a header) into queries (pure)."""
    numbered = [(number, [cell.strip() for cell in row]) for number, row in enumerate(rows, start=1)]
    numbered = [(number, row) for number, row in numbered if any(row)]
    if not numbered:
        raise QueryListError("the list is empty", path=path, hint=f"give one {_EXPECTED} per row")
    columns = _header(numbered[0][1], path=path, row=numbered[0][0])
    if columns:
        body = numbered[1:]
    elif default_column is not None and all(sum(1 for c in row if c) == 1 for _, row in numbered):
        columns = {default_column: next(i for i, c in enumerate(numbered[0][1]) if c)}
        body = numbered
    else:
        raise QueryListError(
            "no header row naming the column to search by",
            path=path,
            row=numbered[0][0],
            hint=f"add a first row with a column name such as {_EXPECTED}",
        )
    queries: dict[StudyQuery, None] = {}
    for number, row in body:
        query = _row_query(row, columns, path=path, number=number)
        if query is not None:
            queries.setdefault(query)
    if not queries:
        raise QueryListError("the list has a header but no rows with values", path=path)
    return list(queries)


def _header(cells: Sequence[str], *, path: Path, row: int) -> dict[QueryColumn, int]:
    columns: dict[QueryColumn, int] = {}
    for index, cell in enumerate(cells):
        kind = _HEADER_NAMES.get(re.sub(r"[^a-z0-9]", "", cell.lower()))
        if kind is None:
            continue
        if kind in columns:
            raise QueryListError(
                f"two columns mean {kind.value}",
                path=path,
                row=row,
                column=cell,
                hint="keep only one of them",
            )
        columns[kind] = index
    if columns and not any(
        kind in columns
        for kind in (*IDENTIFYING, QueryColumn.STUDY_DATE, QueryColumn.DATE_FROM, QueryColumn.DATE_TO)
    ):
        raise QueryListError(
            "the header has no column to search by", path=path, row=row, hint=f"add a {_EXPECTED} column"
        )
    return columns


def _row_query(
    row: Sequence[str],
    columns: dict[QueryColumn, int],
    *,
    path: Path,
    number: int,
) -> StudyQuery | None:
    values = {kind: (row[index] if index < len(row) else "") for kind, index in columns.items()}
    if not any(values.values()):
        return None
    fields: dict[str, object] = {}
    for kind, text in values.items():
        if not text:
            continue
        try:
            _set_field(fields, kind, text)
        except ValueError as exc:
            raise QueryListError(str(exc), path=path, row=number, column=kind.value) from exc
    if not any(
        kind in fields for kind in ("patient_id", "accession_number", "study_uid", "date_from", "date_to")
    ):
        raise QueryListError(
            f"the row has no {_EXPECTED} or date", path=path, row=number, hint="fill it in or delete the row"
        )
    try:
        return StudyQuery(**fields)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise QueryListError(str(exc), path=path, row=number, hint=exc.hint) from exc


def _set_field(fields: dict[str, object], kind: QueryColumn, text: str) -> None:
    if kind is QueryColumn.STUDY_DATE:
        da_range = _DA_RANGE.match(text)
        start, end = (da_range[1], da_range[2]) if da_range else (text, text)
        fields["date_from"] = parse_date(start) if start else None
        fields["date_to"] = parse_date(end) if end else None
    elif kind in (QueryColumn.DATE_FROM, QueryColumn.DATE_TO):
        fields[kind.value] = parse_date(text)
    elif kind is QueryColumn.MODALITY:
        fields["modality"] = text.upper()
    else:
        fields[kind.value] = text


def parse_date(text: str) -> date:
    """Return the date in ``YYYYMMDD`` or ``YYYY-MM-DD`` (raises ValueError saying what is expected)."""
    match = _DATE.match(text.strip())
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    # The value itself is left out: the message may be logged, and dates can identify.
    raise ValueError("not a date; write YYYYMMDD or YYYY-MM-DD")


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on European Windows saves CSV in cp1252.
        text = raw.decode("cp1252", errors="replace")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(row) for row in csv.reader(io.StringIO(text), dialect)]


def _read_xlsx(path: Path, sheet: str | None) -> list[list[str]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, ValueError) as exc:
        raise QueryListError(
            "not a readable XLSX workbook", path=path, hint="open and re-save it in Excel"
        ) from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise QueryListError(
                f"no worksheet named {sheet!r}",
                path=path,
                hint=f"sheets are: {', '.join(workbook.sheetnames)}",
            )
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        return [[_cell_text(value) for value in row] for row in worksheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        # Excel stores numeric IDs as floats: 12345 comes back as 12345.0.
        return str(int(value))
    return str(value)
