"""Turn one raw cell into the typed value its schema field declares, or say exactly why not."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

from eucaim.clinical.schema import FieldSpec
from eucaim.clinical.table import Cell

Value = str | float | int | bool | date | tuple[str, ...]

# Excel's 1900 date system counts days from 1899-12-30 (it wrongly treats 1900 as a leap year,
# which this epoch absorbs for every date after February 1900).
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_1904_EPOCH = date(1904, 1, 1)
EXCEL_MAX_SERIAL = 2958465  # 9999-12-31
MULTI_SEPARATORS = re.compile(r"\s*[|;,+]\s*")
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "si", "sí", "ja", "oui", "sim"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "nein", "non", "nee", "não"})
_DAY_FIRST = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+\-Z]*)?$")
_ICDO3 = re.compile(r"^(?:M-?)?(\d{4})/?([0-9])([1-9])?$", re.IGNORECASE)
ICDO3_BEHAVIOURS = frozenset("012369")


class CellError(Exception):
    """A cell that does not fit its field; the validator turns it into an ``Issue``."""

    def __init__(self, rule: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.hint = hint


def is_blank(cell: Cell) -> bool:
    """True for empty cells, whitespace and the usual spellings of 'no value'."""
    if cell is None:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True
    return isinstance(cell, str) and cell.strip().casefold() in {"", "na", "n/a", "nan", "null", "-"}


def cell_text(cell: Cell) -> str:
    """Render a cell as the user typed it (a whole float without ``.0``), for messages."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ")
    return str(cell).strip() if cell is not None else ""


def parse_date(cell: Cell, date_format: str | None = None, *, excel_1904: bool = False) -> date:
    """Read a date: ISO, DICOM ``YYYYMMDD``, day-first ``DD/MM/YYYY`` (or ``date_format``), Excel serial.

    ``excel_1904``: the workbook counts serials from 1904 (old Mac Excel), not 1900.
    """
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if 1 <= cell <= EXCEL_MAX_SERIAL:
            return (EXCEL_1904_EPOCH if excel_1904 else EXCEL_EPOCH) + timedelta(days=int(cell))
        if not (isinstance(cell, int) and 10000101 <= cell <= 99991231):
            raise CellError("date", f"{cell_text(cell)} is not a date", "write dates as YYYY-MM-DD")
        cell = str(cell)  # a DICOM-style YYYYMMDD that a JSON export wrote as a number
    text = str(cell).strip()
    formats = (date_format,) if date_format else ()
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            raise CellError(
                "date",
                f"{text!r} does not match the date format {fmt!r} set in the mapping",
                "correct the date, or change date_format in the mapping file",
            ) from None
    iso = _ISO_DATE.match(text)
    if iso or re.fullmatch(r"\d{8}", text):
        digits = iso.groups() if iso else (text[:4], text[4:6], text[6:])
        try:
            return date(int(digits[0]), int(digits[1]), int(digits[2]))
        except ValueError:
            raise CellError("date", f"{text!r} is not a real calendar date", "check day and month") from None
    for fmt in _DAY_FIRST:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if re.fullmatch(r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}", text):
        hint = "write the year with four digits (YYYY-MM-DD is safest)"
    elif re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
        hint = (
            "dates are read day-first; if yours are month-first set date_format = '%m/%d/%Y' in the mapping"
        )
    elif re.fullmatch(r"\d{5}(\.\d+)?", text):
        hint = "this looks like an Excel serial number; export the column formatted as a date (YYYY-MM-DD)"
    else:
        hint = "write dates as YYYY-MM-DD"
    raise CellError("date", f"{text!r} is not a date", hint)


def parse_number(cell: Cell) -> float:
    """Read a number, accepting a decimal comma (``54,3``) as European exports write it."""
    if isinstance(cell, bool):
        raise CellError("number", f"{cell} is not a number", "write a number such as 54.3")
    if isinstance(cell, int | float):
        return float(cell)
    text = str(cell).strip().replace(" ", "")
    if "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        raise CellError("number", f"{text!r} is not a number", "write a number such as 54.3") from None
    if not math.isfinite(number):
        raise CellError("number", f"{text!r} is not a finite number", "write a number such as 54.3")
    return number


def parse_icdo3_morphology(cell: Cell) -> str:
    """Normalise an ICD-O-3 morphology code to ``NNNN/B`` (optionally a grade digit)."""
    text = cell_text(cell)
    match = _ICDO3.match(text.replace(" ", ""))
    if not match or not 8000 <= int(match.group(1)) <= 9993 or match.group(2) not in ICDO3_BEHAVIOURS:
        raise CellError(
            "icdo3",
            f"{text!r} is not an ICD-O-3 morphology code",
            "write the morphology with its behaviour code, e.g. 8140/3 (adenocarcinoma, malignant)",
        )
    return f"{match.group(1)}/{match.group(2)}{match.group(3) or ''}"


def _codes_hint(spec: FieldSpec) -> str:
    codes = ", ".join(c.code for c in spec.codes)
    return f"use one of: {codes}; or translate your values under [values.{spec.name}] in the mapping file"


def parse_code(cell: Cell, spec: FieldSpec) -> str | tuple[str, ...]:
    """Return the canonical code (a tuple of codes for ``multiple`` fields)."""
    text = cell_text(cell)
    parts = [p for p in MULTI_SEPARATORS.split(text) if p] if spec.multiple else [text]
    found: list[str] = []
    for part in parts:
        code = spec.find_code(part)
        if code is None:
            raise CellError("code", f"{part!r} is not an allowed code", _codes_hint(spec))
        if code not in found:
            found.append(code)
    return tuple(found) if spec.multiple else found[0]


def _check_range(number: float, spec: FieldSpec) -> None:
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        unit = f" {spec.unit}" if spec.unit else ""
        raise CellError(
            "range",
            f"{cell_text(number)}{unit} is outside {low}–{high}{unit}",
            f"{spec.name} must lie between {low} and {high}{unit}",
        )


def coerce(cell: Cell, spec: FieldSpec, *, date_format: str | None = None, excel_1904: bool = False) -> Value:
    """Convert a non-blank cell to ``spec``'s type; raise ``CellError`` saying why it does not fit."""
    if spec.type == "date":
        return parse_date(cell, date_format, excel_1904=excel_1904)
    if spec.type in {"number", "integer"}:
        number = parse_number(cell)
        _check_range(number, spec)
        if spec.type == "integer":
            if not number.is_integer():
                raise CellError(
                    "integer", f"{cell_text(cell)!r} is not a whole number", "write a whole number"
                )
            return int(number)
        return round(number, spec.decimals) if spec.decimals is not None else number
    if spec.type == "code":
        return parse_code(cell, spec)
    if spec.type == "icdo3-morphology":
        return parse_icdo3_morphology(cell)
    if spec.type == "boolean":
        if isinstance(cell, bool):
            return cell
        word = cell_text(cell).casefold()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        raise CellError("boolean", f"{cell_text(cell)!r} is not yes/no", "write yes or no")
    text = cell_text(cell)
    if spec.max_length is not None and len(text) > spec.max_length:
        raise CellError("length", f"{len(text)} characters, more than {spec.max_length}", "shorten the value")
    return text
