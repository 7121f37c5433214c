"""Images and clinical rows meet: the real DICOM engine and the clinical path agree on subject and dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pydicom

from eucaim.clinical.intake import check_file
from eucaim.clinical.upload import records_to_upload
from eucaim.deid.engine import Deidentifier
from eucaim.deid.profile import load_profile
from eucaim.dicom.synthetic import generate_cohort

from .samples import SECRET, TODAY


def _da(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def test_each_record_sits_under_its_studies_pseudonym_with_the_same_date_shift(tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=6, image_size=16, slices=(1, 1))
    result = check_file(cohort.clinical_csv, today=TODAY)
    assert result.is_valid, result.issues
    assert {r.population for r in result.rows} == {"case", "control"}
    baseline = result.baseline_dates()  # original patient ID -> detection / acquisition date
    items = records_to_upload(result, SECRET, pseudonym_format="SITE-{hex}")
    records = {item.subject: item.record for item in items}
    engine = Deidentifier(load_profile("eucaim"), SECRET, pseudonym_format="SITE-{hex}")
    checked = 0
    for path in cohort.files:
        ds = pydicom.dcmread(path)
        original_id, original_date = str(ds.PatientID), _da(ds.StudyDate)
        engine.deidentify(ds)
        record = records[str(ds.PatientID)]  # KeyError = images and clinical data do not meet
        if original_date == baseline[original_id]:
            shifted = _da(ds.StudyDate).isoformat()
            field = (
                "acquisition_date"
                if record.fields["population"] == "control"
                else "date_radiological_detection"
            )
            assert record.fields[field] == shifted
            checked += 1
    assert checked >= len(records)  # every subject's baseline study was compared
