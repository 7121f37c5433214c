"""The project's synthetic cohort (used by the demo and end-to-end tests) passes the shipped schema."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from eucaim.clinical.linkage import ImagingStudy, link
from eucaim.clinical.loader import load_table
from eucaim.clinical.pseudonymise import pseudonymise
from eucaim.clinical.schema import Schema
from eucaim.clinical.validation import validate
from eucaim.deid.pseudonym import derive_patient_pseudonym
from eucaim.dicom.synthetic_clinical import CLINICAL_COLUMNS, clinical_row
from eucaim.dicom.synthetic_people import make_patients

from .samples import SECRET, TODAY


def test_synthetic_cohort_clinical_csv_is_valid_and_links(tmp_path: Path, schema: Schema) -> None:
    people = make_patients(random.Random(7), 30)
    path = tmp_path / "clinical.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CLINICAL_COLUMNS)
        writer.writeheader()
        writer.writerows(clinical_row(p) for p in people)
    result = validate(load_table(path), schema, today=TODAY)
    assert result.issues == ()
    assert {r.population for r in result.rows} == {"case", "control"}
    records = pseudonymise(result.rows, SECRET, schema=schema)
    assert [r.subject for r in records] == [derive_patient_pseudonym(SECRET, p.patient_id) for p in people]
    imaging = {p.patient_id: [ImagingStudy(f"1.2.3.{i}", "CT")] for i, p in enumerate(people)}
    assert link(result.patient_rows(), imaging, secret=SECRET).is_complete
