"""Read a hospital CSV export: detect its encoding and delimiter, and say what was detected."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from pathlib import Path

import charset_normalizer

from eucaim.clinical.issues import Issue, Severity
from eucaim.clinical.table import SourceInfo, SourceRow, Table
from eucaim.errors import ClinicalDataError

DELIMITERS = (";", ",", "\t", "|")
MAX_TITLE_ROWS = 10
_EXCEL_SEP = re.compile(r"\Asep=(.)\r?\n", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
# Single-byte exports from European hospital systems are nearly always Windows-1252; the detector
# is only trusted for scripts that Windows-1252 cannot hold at all (it guesses Central European
# code pages for short Spanish or German files, which would turn ñ into ń).
_NON_LATIN_LANGUAGES = frozenset(
    {"Greek", "Russian", "Bulgarian", "Ukrainian", "Serbian", "Macedonian", "Belarusian", "Hebrew", "Arabic"}
)


def _looks_non_latin(data: bytes) -> bool:
    """True when most letters are 8-bit: Greek or Cyrillic text, not Latin text with a few accents."""
    letters = [b for b in data if (65 <= b <= 90) or (97 <= b <= 122) or b >= 0xC0]
    return bool(letters) and sum(1 for b in letters if b >= 0xC0) / len(letters) > 0.4


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str, list[str]]:
    """Return ``(text, encoding used, notes)``; an explicit ``encoding`` skips detection."""
    notes: list[str] = []
    if encoding:
        try:
            return data.decode(encoding), encoding, notes
        except (UnicodeDecodeError, LookupError) as exc:
            raise ClinicalDataError(
                f"cannot decode the file as {encoding}: {exc}",
                hint="remove the encoding setting to let it be detected, or name the right one",
            ) from exc
    for bom, name, label in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name, notes
            except UnicodeDecodeError:
                notes.append(f"the file starts with a {label} byte-order mark but its text is not {label}")
                data = data[len(bom) :]
                break
    try:
        return data.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError:
        pass
    if _looks_non_latin(data):
        best = charset_normalizer.from_bytes(data).best()
        if best is not None and best.language in _NON_LATIN_LANGUAGES:
            return str(best), best.encoding, notes
    try:
        text, used = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, used = data.decode("latin-1"), "latin-1"
    notes.append(
        f"not UTF-8: read as {used} (Western European); set encoding in the mapping if letters look wrong"
    )
    return text, used, notes


def detect_delimiter(text: str) -> str:
    """Pick the delimiter that splits most of the first rows into the same number (2+) of cells.

    Counting the most common width, not the first row's, lets a title line above the header pass.
    """
    sample = text.splitlines()[:20]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = Counter(len(r) for r in csv.reader(sample, delimiter=delimiter) if len(r) >= 2)
        if not widths:
            continue
        width, count = max(widths.items(), key=lambda item: (item[1], item[0]))
        if (count, width) > best_score:
            best, best_score = delimiter, (count, width)
    return best


def _header_index(records: list[list[str]]) -> int:
    """The first record naming at least two columns; title lines above it are skipped."""
    for index, record in enumerate(records[: MAX_TITLE_ROWS + 1]):
        if sum(1 for c in record if c.strip()) >= 2:
            return index
    return 0


def parse_csv(
    text: str, *, name: str, encoding: str, delimiter: str | None = None, notes: list[str] | None = None
) -> Table:
    """Parse decoded CSV text; blank lines are skipped but keep their row numbers.

    A first line ``sep=;`` (Excel's delimiter hint) sets the delimiter; Excel hides that line, so
    row numbers start after it, as the user sees them.
    """
    hint = _EXCEL_SEP.match(text)
    if hint:
        text = text[hint.end() :]
    used = delimiter or (hint.group(1) if hint else None) or detect_delimiter(text)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=used))
    start = _header_index(records)
    if not records or not any(c.strip() for c in records[start]):
        raise ClinicalDataError(f"{name} has no header row", hint="the first row must name the columns")
    header = [c.strip() for c in records[start]]
    notes = list(notes or ())
    problems: list[Issue] = []
    if any(c.strip() for record in records[:start] for c in record):
        problems.append(
            Issue(
                "title-rows",
                f"skipped {start} line(s) above the header (row {start + 1})",
                "check that the header row was found; delete title lines to silence this",
                severity=Severity.WARNING,
            )
        )
    columns: list[str] = []
    for index, title in enumerate(header, start=1):
        label = title or f"column {index}"
        if label in columns:
            problems.append(
                Issue(
                    "duplicate-column",
                    f"column {label!r} appears twice in the header",
                    "rename or remove one of them",
                    row=start + 1,
                    column=label,
                )
            )
            label = f"{label} ({index})"
        columns.append(label)
    rows: list[SourceRow] = []
    for number, record in enumerate(records[start + 1 :], start=start + 2):
        if not any(c.strip() for c in record):
            continue
        if len(record) > len(columns) and any(c.strip() for c in record[len(columns) :]):
            problems.append(
                Issue(
                    "extra-cells",
                    f"row has {len(record)} cells but the header has {len(columns)}",
                    f"check for an unquoted {used!r} inside a value, or add a column name",
                    row=number,
                )
            )
        rows.append(SourceRow(number, dict(zip(columns, record, strict=False))))
    info = SourceInfo(name=name, format="csv", encoding=encoding, delimiter=used, notes=tuple(notes))
    problems += [
        Issue("encoding", n, "check accented letters in the report", severity=Severity.WARNING)
        for n in info.notes
    ]
    return Table(source=info, columns=tuple(columns), rows=tuple(rows), problems=tuple(problems))


def read_csv(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> Table:
    """Read a CSV file, detecting encoding (BOM, UTF-8, Windows-1252, ...) and delimiter."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClinicalDataError(f"cannot read {path}: {exc.strerror}") from exc
    text, used, notes = decode(data, encoding)
    return parse_csv(text, name=path.name, encoding=used, delimiter=delimiter, notes=notes)
