"""Study queries to C-FIND identifiers, and tolerant parsing of what PACS answer."""

from __future__ import annotations

import warnings
from datetime import date

import pytest
from pydicom import Dataset

from eucaim.errors import ConfigError
from eucaim.ingest.sources.query import (
    StudyMatch,
    StudyQuery,
    build_find_identifier,
    matches,
    merge_matches,
    parse_find_reply,
    select_studies,
)

UID = "1.2.826.0.1.3680043.8.498.10"


def reply(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_identifier_carries_criteria_and_asks_for_return_keys() -> None:
    query = StudyQuery(patient_id="P1", date_from=date(2024, 1, 1), date_to=date(2024, 1, 31), modality="CT")

    ds = build_find_identifier(query)

    assert ds.QueryRetrieveLevel == "STUDY"
    assert ds.PatientID == "P1"
    assert ds.StudyDate == "20240101-20240131"
    assert ds.ModalitiesInStudy == "CT"
    for keyword in ("StudyInstanceUID", "AccessionNumber", "NumberOfStudyRelatedInstances"):
        assert keyword in ds and not ds[keyword].value


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        (date(2024, 1, 1), None, "20240101-"),
        (None, date(2024, 1, 1), "-20240101"),
        (date(2024, 1, 1), date(2024, 1, 1), "20240101"),
    ],
)
def test_date_ranges(date_from: date | None, date_to: date | None, expected: str) -> None:
    assert build_find_identifier(StudyQuery(date_from=date_from, date_to=date_to)).StudyDate == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"modality": "CT"},
        {"patient_id": "P*"},
        {"accession_number": "A?"},
        {"patient_id": "  "},
        {"study_uid": "1.2.abc"},
        {"date_from": date(2024, 2, 1), "date_to": date(2024, 1, 1)},
    ],
)
def test_unsafe_or_empty_queries_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        StudyQuery(**kwargs)  # type: ignore[arg-type]


def test_full_reply_is_parsed() -> None:
    ds = reply(
        StudyInstanceUID=UID,
        PatientID="P1",
        AccessionNumber="A1",
        StudyDate="20240115",
        ModalitiesInStudy=["MR", "CT"],
        StudyDescription="Thorax",
        NumberOfStudyRelatedInstances="12",
    )

    assert parse_find_reply(ds) == StudyMatch(
        study_uid=UID,
        patient_ids=("P1",),
        accession_number="A1",
        study_date=date(2024, 1, 15),
        modalities=("CT", "MR"),
        description="Thorax",
        instance_count=12,
    )


def test_reply_missing_optional_keys_and_with_garbage_values_is_kept() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the bad date we build on purpose
        ds = reply(StudyInstanceUID=UID, StudyDate="2024-13-45", ModalitiesInStudy="CT\\mr")

    match = parse_find_reply(ds)

    assert match is not None
    assert match.patient_id is None
    assert match.study_date is None
    assert match.modalities == ("CT", "MR")
    assert match.instance_count is None


@pytest.mark.parametrize("ds", [None, Dataset(), reply(StudyInstanceUID=""), reply(PatientID="P1")])
def test_reply_without_usable_study_uid_is_dropped(ds: Dataset | None) -> None:
    assert parse_find_reply(ds) is None


def test_client_side_filter_catches_pacs_that_ignore_keys() -> None:
    query = StudyQuery(patient_id="P1", modality="CT", date_from=date(2024, 1, 1))
    ok = StudyMatch(UID, patient_ids=("P1",), modalities=("CT", "SR"), study_date=date(2024, 3, 1))

    assert matches(query, ok)
    assert not matches(query, StudyMatch(UID, patient_ids=("P2",)))
    assert not matches(query, StudyMatch(UID, modalities=("MR",)))
    assert not matches(query, StudyMatch(UID, study_date=date(2023, 12, 31)))
    # Keys the PACS left out are not held against the study.
    assert matches(query, StudyMatch(UID))


def test_one_study_reported_under_two_patient_ids_is_merged() -> None:
    first = StudyMatch(UID, patient_ids=("P1",), modalities=("CT",), instance_count=3)
    second = StudyMatch(UID, patient_ids=("P1-OLD",), modalities=("SR",), accession_number="A1")
    other = StudyMatch("1.2.3", patient_ids=("P9",))

    merged = merge_matches([first, other, second])

    assert merged == [
        StudyMatch(
            UID,
            patient_ids=("P1", "P1-OLD"),
            modalities=("CT", "SR"),
            accession_number="A1",
            instance_count=3,
        ),
        other,
    ]


def test_selection_keeps_other_replies_of_a_wanted_study_and_counts_the_dropped() -> None:
    query = StudyQuery(patient_id="P1")
    replies = [
        StudyMatch(UID, patient_ids=("P1",)),
        None,
        StudyMatch(UID, patient_ids=("P1-MERGED",)),
        StudyMatch("1.2.3", patient_ids=("P2",)),
    ]

    studies, dropped = select_studies(query, replies)

    assert studies == [StudyMatch(UID, patient_ids=("P1", "P1-MERGED"))]
    assert dropped == 2
