"""Date shifting, descriptor scrubbing and the generated Table E.1-1 data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eucaim.deid.actions import Action
from eucaim.deid.dates import shift_da, shift_dt
from eucaim.deid.descriptors import Scrubber, collect_identifiers
from eucaim.deid.profile import load_profile
from eucaim.deid.rules import RuleSet, load_table, table_action

from .conftest import make_instance


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20190503", -10, "20190423"),
        ("20200301", -1, "20200229"),  # leap day
        ("2019.05.03", 1, "20190504"),  # ACR-NEMA style
        ("20190101-20190201", -1, "20181231-20190131"),  # range
        ("", -5, ""),
        ("2019XX03", -5, None),
        ("20190231", -5, None),  # no such day
    ],
)
def test_shift_da(value: str, days: int, expected: str | None) -> None:
    assert shift_da(value, days) == expected


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20190503101500.123456+0100", -3, "20190430101500.123456+0100"),
        ("201905", -40, "201903"),  # year-month precision kept
        ("2019", -400, "2017"),
        ("20190503", 1, "20190504"),
        ("not a date", 1, None),
    ],
)
def test_shift_dt(value: str, days: int, expected: str | None) -> None:
    assert shift_dt(value, days) == expected


@given(st.dates(), st.integers(min_value=-3650, max_value=-365))
def test_shift_da_moves_exactly_the_offset(day: object, days: int) -> None:
    import datetime as dt

    assert isinstance(day, dt.date)
    shifted = shift_da(f"{day.year:04d}{day.month:02d}{day.day:02d}", days)
    if shifted is None:  # before year 1: cannot be represented, reported as invalid
        assert day.toordinal() + days < 1
        return
    expected = day + dt.timedelta(days=days)
    assert shifted == f"{expected.year:04d}{expected.month:02d}{expected.day:02d}"


def test_scrubber_removes_own_identifiers_and_patterns() -> None:
    ds = make_instance()
    scrubber = Scrubber(collect_identifiers(ds))
    assert scrubber.scrub("CT THORAX Johnathan DOE") == "CT THORAX"
    assert scrubber.scrub("follow-up 03/05/2019 MRN 12345678") == "follow-up MRN"
    assert scrubber.scrub("ACC-4401177 T1 AX") == "T1 AX"
    assert scrubber.scrub("seen on 3 May 2019, contact j.doe@example.org") == "seen on, contact"
    assert scrubber.scrub("T2 FLAIR 3D") == "T2 FLAIR 3D"  # clinical meaning survives


def test_birth_date_is_scrubbed_in_its_common_spellings() -> None:
    ds = make_instance()
    scrubber = Scrubber(collect_identifiers(ds))
    for spelling in ("19610413", "13/04/1961", "1961-04-13", "13.04.1961"):
        assert scrubber.scrub(f"born {spelling} ok") == "born ok"


def test_table_has_every_row_resolved() -> None:
    rows = load_table()
    assert len(rows) == 617
    assert {r.action for r in rows} <= {"X", "Z", "D", "U", "K", "C"}
    by_keyword = {r.keyword: r for r in rows}
    assert by_keyword["PatientName"].action == "Z"
    assert by_keyword["ReferencedImageSequence"].action == "U"  # X/Z/U*: keep and remap inside
    assert by_keyword["ContentDate"].action == "D"  # Z/D on a Type 1 attribute
    assert by_keyword["AcquisitionDate"].action == "X"  # X/Z on a Type 3 attribute
    assert by_keyword["InstitutionName"].action == "X"  # X/Z/D, Type 3


def test_options_override_the_basic_profile() -> None:
    row = next(r for r in load_table() if r.keyword == "DateOfLastDetectorCalibration")
    assert table_action(row, ()) is Action.REMOVE
    assert table_action(row, ("retain-long-modified-dates",)) is Action.SHIFT
    assert table_action(row, ("retain-long-full-dates",)) is Action.KEEP
    # Two options disagree: the stricter one wins.
    assert table_action(row, ("retain-device-identity", "retain-long-modified-dates")) is Action.SHIFT


def test_rules_default_deny_and_allow_list() -> None:
    rules = RuleSet(load_profile("ps315-basic"))
    assert rules.decide(0x00280010, "US") is Action.KEEP  # Rows: allow-listed group
    assert rules.decide(0x00189999, "LT") is Action.REMOVE  # free text in an allowed group
    assert rules.decide(0x01000424, "LT") is Action.REMOVE  # SOPAuthorizationComment: unlisted
    assert rules.decide(0x00080016, "UI") is Action.KEEP  # SOP Class UID stays
    assert rules.decide(0x00081155, "UI") is Action.UID
    assert rules.decide(0x60003000, "OW") is Action.REMOVE  # overlay data
    assert rules.decide(0x00080000, "UL") is Action.REMOVE  # group length
