"""Linking clinical rows with imaging patients before anything is uploaded."""

from __future__ import annotations

from datetime import date

from eucaim.clinical.linkage import ImagingStudy, LinkStatus, link
from eucaim.deid.pseudonym import derive_patient_pseudonym

from .samples import SECRET, check

CT = ImagingStudy("1.2.3.1", "CT", date(2020, 1, 11))
MR = ImagingStudy("1.2.3.2", "MR", date(2020, 2, 1))


def test_linked_imaging_only_and_clinical_only_patients() -> None:
    report = link({"P1": [2], "P2": [3]}, {"P1": [CT, MR], "P9": [CT]}, secret=SECRET)
    by_id = {entry.patient_id: entry for entry in report.links}
    assert by_id["P1"].status is LinkStatus.LINKED
    assert by_id["P1"].studies == (CT, MR)
    assert by_id["P1"].pseudonym == derive_patient_pseudonym(SECRET, "P1")
    assert (by_id["P2"].status, by_id["P2"].rows) == (LinkStatus.CLINICAL_ONLY, (3,))
    assert by_id["P9"].status is LinkStatus.IMAGING_ONLY
    assert not report.is_complete
    assert report.summary() == (
        "linkage: 1 patient(s) linked to 2 study(ies), 1 with images but no clinical row, "
        "1 clinical row(s) without images"
    )


def test_ids_are_compared_as_pseudonyms_are_derived_trimmed() -> None:
    report = link({" P1 ": [2]}, {"P1": [CT]}, secret=SECRET)
    assert [e.status for e in report.links] == [LinkStatus.LINKED]
    assert report.is_complete


def test_ids_damaged_by_a_spreadsheet_are_flagged_as_near_matches() -> None:
    report = link({"123": [2], "p7": [3]}, {"000123": [CT], "P7": [MR]})
    near = {e.patient_id: e.near_match for e in report.links}
    assert near == {"000123": "123", "123": "000123", "P7": "p7", "p7": "P7"}
    assert all(e.pseudonym is None for e in report.links)  # no secret, no pseudonyms


def test_a_pseudonym_shared_by_two_patients_is_a_collision() -> None:
    report = link({"A": [2], "B": [3]}, {"A": [CT], "B": [MR]}, secret=SECRET, pseudonym_format="SITE1")
    [collision] = report.collisions
    assert (collision.pseudonym, collision.patient_ids) == ("SITE1", ("A", "B"))
    assert not report.is_complete
    assert "1 pseudonym collision(s)" in report.summary()


def test_linkage_from_a_validated_file_finds_the_patient_without_images() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    imaging = {"000123": [MR], "000456": [MR, CT]}
    report = link(result.patient_rows(), imaging, secret=SECRET)
    [orphan] = report.with_status(LinkStatus.CLINICAL_ONLY)
    assert (orphan.patient_id, orphan.rows) == ("000789", (4,))


def test_images_far_from_the_clinical_baseline_are_flagged() -> None:
    late = ImagingStudy("1.2.3.9", "CT", date(2023, 5, 1))
    report = link(
        {"P1": [2], "P2": [3], "P3": [4]},
        {"P1": [CT, late], "P2": [late], "P3": [ImagingStudy("1.2.3.10", "MR")]},
        baselines={"P1": date(2020, 1, 10), "P2": date(2020, 1, 10), "P3": date(2020, 1, 10)},
    )
    gaps = {e.patient_id: e.date_gap_days for e in report.links}
    assert gaps == {"P1": 1, "P2": 1207, "P3": None}  # P3's study has no date: nothing to compare
    assert [e.patient_id for e in report.far_from_images()] == ["P2"]
    assert "1 with no study within 180 days of the clinical baseline" in report.summary()


def test_baseline_dates_come_from_the_schema_declared_fields() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    assert result.baseline_dates() == {
        "000123": date(2019, 3, 2),  # date_radiological_detection
        "000456": date(2019, 6, 11),
        "000789": date(2022, 1, 10),  # a control: acquisition_date
    }
