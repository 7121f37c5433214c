"""QIDO query parsing and result rendering, without a database."""

from __future__ import annotations

import pytest

from eucaim.node.dicomweb.attributes import BY_KEYWORD, Level
from eucaim.node.dicomweb.qido import DEFAULT_LIMIT, MAX_LIMIT, like_pattern, parse_query, render
from eucaim.node.errors import InvalidRequest


def test_defaults() -> None:
    query = parse_query(Level.STUDY, [])
    assert (query.matches, query.limit, query.offset, query.include) == ((), DEFAULT_LIMIT, 0, frozenset())


def test_keyword_and_tag_forms_match_the_same_attribute() -> None:
    by_keyword = parse_query(Level.STUDY, [("PatientID", "P1")]).matches[0]
    by_tag = parse_query(Level.STUDY, [("00100020", "P1")]).matches[0]
    assert by_keyword == by_tag
    assert by_keyword.attribute.keyword == "PatientID" and by_keyword.values == ("P1",)


def test_uid_lists_split_on_comma_and_backslash() -> None:
    match = parse_query(Level.STUDY, [("StudyInstanceUID", "1.2,1.3\\1.4")]).matches[0]
    assert match.values == ("1.2", "1.3", "1.4")


def test_wildcards_become_patterns_and_dates_ranges() -> None:
    query = parse_query(Level.STUDY, [("PatientName", "DOE^*"), ("StudyDate", "20200101-")])
    assert query.matches[0].pattern == "DOE^*"
    assert query.matches[1].date_range == ("20200101", None)


def test_matched_keys_are_returned_and_includefield_all_covers_upper_levels() -> None:
    query = parse_query(Level.SERIES, [("PatientID", "P1"), ("includefield", "all")])
    assert "PatientID" in query.include and "StudyDescription" in query.include
    assert "SOPInstanceUID" not in query.include  # a lower level is never included


def test_includefield_accepts_tags_lists_and_ignores_unknown_names() -> None:
    query = parse_query(Level.STUDY, [("includefield", "00101010,StudyDescription"), ("includefield", "Foo")])
    assert query.include == {"PatientAge", "StudyDescription"}


def test_limit_is_capped_and_empty_values_match_everything() -> None:
    query = parse_query(Level.STUDY, [("limit", str(MAX_LIMIT * 10)), ("offset", "5"), ("PatientID", "")])
    assert (query.limit, query.offset, query.matches) == (MAX_LIMIT, 5, ())
    assert "PatientID" not in query.include


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ([("limit", "0")], "limit"),
        ([("offset", "-1")], "offset"),
        ([("StudyDate", "2020-01-01")], "StudyDate"),
        ([("StudyDate", "-")], "StudyDate"),
        ([("SeriesNumber", "one")], "SeriesNumber"),
        ([("Modality", "CT")], "Modality"),  # series key at study level
        ([("PatientWeight", "70")], "PatientWeight"),
    ],
)
def test_bad_parameters_name_themselves(params: list[tuple[str, str]], parameter: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_query(Level.STUDY if parameter != "SeriesNumber" else Level.SERIES, params)
    assert caught.value.parameter == parameter


def test_like_pattern_escapes_sql_wildcards() -> None:
    assert like_pattern("A_B%C*D?") == "A\\_B\\%C%D_"
    assert like_pattern("back\\slash") == "back\\\\slash"


def test_render_returns_defaults_and_empty_attributes() -> None:
    values = {
        "StudyInstanceUID": "1.2",
        "PatientID": "P1",
        "PatientAge": "054Y",
        "ModalitiesInStudy": ["CT", "MR"],
    }
    body = render(Level.STUDY, values, frozenset(), "http://n/studies/1.2")
    assert body["0020000D"] == {"vr": "UI", "Value": ["1.2"]}
    assert body["00080061"] == {"vr": "CS", "Value": ["CT", "MR"]}
    assert body["00100010"] == {"vr": "PN"}  # required key, unknown value: present and empty
    assert "00101010" not in body  # optional, not asked for
    assert body["00081190"] == {"vr": "UR", "Value": ["http://n/studies/1.2"]}
    assert list(body) == sorted(body)
    with_age = render(Level.STUDY, values, frozenset({"PatientAge"}), "u")
    assert with_age["00101010"] == {"vr": "AS", "Value": ["054Y"]}


def test_render_instances_carry_parent_uids_and_integers() -> None:
    values = {"StudyInstanceUID": "1", "SeriesInstanceUID": "2", "SOPInstanceUID": "3", "InstanceNumber": 7}
    body = render(Level.INSTANCE, values, frozenset(), "u")
    assert body["0020000D"]["Value"] == ["1"] and body["0020000E"]["Value"] == ["2"]
    assert body["00200013"] == {"vr": "IS", "Value": [7]}


def test_render_person_names_use_the_alphabetic_group() -> None:
    body = render(Level.STUDY, {"PatientName": "EUCAIM-1"}, frozenset(), "u")
    assert body[BY_KEYWORD["PatientName"].tag] == {"vr": "PN", "Value": [{"Alphabetic": "EUCAIM-1"}]}
