"""Typed values from raw cells: the date, number and code spellings hospital exports produce."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from eucaim.clinical.schema import Schema
from eucaim.clinical.values import CellError, coerce, is_blank, parse_date, parse_icdo3_morphology


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2020-01-10", date(2020, 1, 10)),
        ("2020-01-10T08:30:00", date(2020, 1, 10)),
        ("20200110", date(2020, 1, 10)),  # DICOM DA
        ("10/01/2020", date(2020, 1, 10)),  # day first, as European exports write it
        ("10.01.2020", date(2020, 1, 10)),
        ("10-01-2020", date(2020, 1, 10)),
        (43840, date(2020, 1, 10)),  # Excel serial number
        (43840.75, date(2020, 1, 10)),  # serial with a time of day
        (datetime(2020, 1, 10, 9, 0), date(2020, 1, 10)),
        (20200110, date(2020, 1, 10)),  # YYYYMMDD written as a JSON number
    ],
)
def test_dates_in_the_spellings_exports_use(cell: object, expected: date) -> None:
    assert parse_date(cell) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cell", "hint"),
    [
        ("03/15/2020", "month-first"),
        ("10/01/20", "four digits"),
        ("43840", "Excel serial number"),
        ("2020-02-30", "check day and month"),
        ("last spring", "YYYY-MM-DD"),
    ],
)
def test_bad_dates_come_with_a_hint_that_fits_the_mistake(cell: str, hint: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_date(cell)
    assert hint in caught.value.hint


def test_site_date_format_wins_and_a_mismatch_names_it() -> None:
    assert parse_date("03/15/2020", "%m/%d/%Y") == date(2020, 3, 15)
    with pytest.raises(CellError, match="does not match the date format '%m/%d/%Y'"):
        parse_date("15/03/2020", "%m/%d/%Y")


def test_numbers_accept_decimal_comma_and_round_to_declared_decimals(schema: Schema) -> None:
    age = schema.field("age_at_diagnosis")
    assert coerce("54,349", age) == 54.3
    assert coerce(61, age) == 61.0
    with pytest.raises(CellError, match="outside 0–120"):
        coerce("130", age)
    with pytest.raises(CellError, match="not a number"):
        coerce("fifty", age)


@pytest.mark.parametrize(
    ("raw", "code"),
    [("8140/3", "8140/3"), ("M-8140/3", "8140/3"), ("81403", "8140/3"), ("8500/33", "8500/33")],
)
def test_icdo3_morphology_is_normalised(raw: str, code: str) -> None:
    assert parse_icdo3_morphology(raw) == code


@pytest.mark.parametrize("raw", ["8170", "8140/4", "7000/3", "C50.9", "adenocarcinoma"])
def test_icdo3_morphology_rejects_what_is_not_one(raw: str) -> None:
    with pytest.raises(CellError, match="not an ICD-O-3 morphology code"):
        parse_icdo3_morphology(raw)


def test_codes_match_case_and_aliases_and_multiple_values_split(schema: Schema) -> None:
    assert coerce("Female", schema.field("sex")) == "female"
    assert coerce("F", schema.field("sex")) == "female"
    assert coerce("C50", schema.field("topography")) == "breast"
    assert coerce("c50.4", schema.field("topography")) == "breast"  # ICD-O-3 subsite
    with pytest.raises(CellError):
        coerce("C500", schema.field("topography"))
    assert coerce("surgery | Radiotherapy,surgery", schema.field("treatment")) == ("surgery", "radiotherapy")
    with pytest.raises(CellError, match="'laser' is not an allowed code") as caught:
        coerce("surgery|laser", schema.field("treatment"))
    assert "[values.treatment]" in caught.value.hint


def test_none_is_a_code_not_a_blank() -> None:
    assert not is_blank("none")
    assert is_blank(" ") and is_blank("N/A") and is_blank(None)
