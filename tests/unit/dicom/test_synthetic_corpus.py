"""The benchmark corpus writer and the cohort fixtures give what their callers rely on."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from eucaim.dicom.synthetic import Cohort, generate_ct_corpus
from tests.support.cohort import cohort, cohort_copy, small_cohort  # noqa: F401

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_corpus_has_exactly_n_distinct_ct_slices_of_the_requested_size(tmp_path: Path) -> None:
    files = generate_ct_corpus(tmp_path, 230, size=32)

    assert len(files) == 230 == len(set(files))
    on_disk = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk == sorted(files)
    sample = [pydicom.dcmread(p) for p in files[::40]]
    assert all(ds.SOPClassUID == CT and ds.Rows == ds.Columns == 32 for ds in sample)
    assert len({ds.SOPInstanceUID for ds in sample}) == len(sample)
    # Different patients must not share pixel noise, or compression benchmarks would flatter us.
    first_patient, last_patient = pydicom.dcmread(files[0]), pydicom.dcmread(files[-1])
    assert first_patient.PatientID != last_patient.PatientID
    assert first_patient.PixelData != last_patient.PixelData


def test_corpus_rejects_an_empty_request(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_ct_corpus(tmp_path, 0)


def test_cohort_copy_is_writable_without_touching_the_session_cohort(
    cohort: Cohort,  # noqa: F811
    cohort_copy: Cohort,  # noqa: F811
) -> None:
    assert cohort_copy.root != cohort.root
    assert len(cohort_copy.files) == len(cohort.files)
    assert all(p.is_file() and cohort_copy.root in p.parents for p in cohort_copy.files)
    cohort_copy.files[0].write_bytes(b"changed")
    assert cohort.files[0].read_bytes() != b"changed"
    assert cohort_copy.clinical_csv.read_text() == cohort.clinical_csv.read_text()


def test_small_cohort_is_small(small_cohort: Cohort) -> None:  # noqa: F811
    assert len(small_cohort.patients) == 2
    assert 8 <= len(small_cohort.files) <= 40
