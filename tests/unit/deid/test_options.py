"""Each PS3.15 option changes what it should, on the attributes Table E.1-1 gives it, and is declared."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset

from eucaim.deid.engine import Deidentifier
from eucaim.deid.profile import OPTIONS, load_profile

from .conftest import PHI, SECRET, make_instance

SHIFTED = "shifted"
# option -> (keyword, value expected with the option); the basic profile alone must differ.
CASES = {
    "retain-uids": ("SOPInstanceUID", PHI["sop_uid"]),
    "retain-device-identity": ("StationName", PHI["station"]),
    "retain-institution-identity": ("InstitutionName", PHI["institution"]),
    "retain-patient-characteristics": ("PatientAge", "058Y"),
    "retain-long-full-dates": ("StudyDate", PHI["study_date"]),
    "retain-long-modified-dates": ("StudyDate", SHIFTED),
    "clean-descriptors": ("SeriesDescription", "AX LUNG"),
}


def _with(tmp_path: Path, option: str) -> Deidentifier:
    path = tmp_path / f"{option}.toml"
    path.write_text(f'name = "{option}"\nversion = "1"\nbase = "ps315-basic"\noptions = ["{option}"]\n')
    return Deidentifier(load_profile(str(path)), SECRET)


def _matches(ds: Dataset, keyword: str, expected: str) -> bool:
    value = str(ds.get(keyword, "") or "")
    if expected == SHIFTED:
        return len(value) == 8 and value.isdigit() and value != PHI["study_date"]
    return value == expected


@pytest.mark.parametrize("option", sorted(CASES))
def test_option_retains_or_cleans_its_attributes(tmp_path: Path, option: str) -> None:
    keyword, expected = CASES[option]
    baseline = Deidentifier(load_profile("ps315-basic"), SECRET).deidentify(make_instance()).dataset
    assert not _matches(baseline, keyword, expected)  # the basic profile alone does not do it
    ds = _with(tmp_path, option).deidentify(make_instance()).dataset
    assert _matches(ds, keyword, expected)
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100", OPTIONS[option].code]


def test_retain_uids_keeps_references_and_file_meta_consistent(tmp_path: Path) -> None:
    ds = _with(tmp_path, "retain-uids").deidentify(make_instance()).dataset
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == PHI["ref_uid"]
    assert ds.file_meta.MediaStorageSOPInstanceUID == PHI["sop_uid"]


def test_retain_full_dates_declares_unmodified(tmp_path: Path) -> None:
    ds = _with(tmp_path, "retain-long-full-dates").deidentify(make_instance()).dataset
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
