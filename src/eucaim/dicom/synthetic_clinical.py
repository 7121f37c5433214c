"""Turn synthetic patients into rows of the EUCAIM minimum clinical dataset, consistent with their studies.

Pure: patients in, rows out. Dates are the same calendar days the DICOM studies carry (the radiological
detection is the baseline CT's StudyDate), so an end-to-end test can check that images and clinical
data move by the same per-patient offset.
"""

from __future__ import annotations

import datetime as dt

from eucaim.dicom.synthetic_people import SyntheticPatient

# Diagnostic-case columns first (HB DataPreparation.md), then the two that only controls fill.
CLINICAL_COLUMNS = (
    "PatientID",
    "population",
    "sex",
    "age_at_diagnosis",
    "date_of_radiological_detection",
    "date_of_pathological_confirmation",
    "method_of_pathological_confirmation",
    "topography",
    "pathology",
    "imaging_protocol",
    "treatment",
    "date_of_first_treatment",
    "acquisition_date",
    "age",
)


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else ""


def _years(birth_date: str, day: dt.date) -> str:
    birth = dt.datetime.strptime(birth_date, "%Y%m%d").date()
    return f"{(day - birth).days / 365.25:.1f}"


def clinical_row(patient: SyntheticPatient) -> dict[str, str]:
    """Return the patient's clinical row; controls leave the diagnosis columns empty."""
    d = patient.diagnosis
    row = dict.fromkeys(CLINICAL_COLUMNS, "")
    row.update(
        PatientID=patient.patient_id,
        population=patient.population,
        sex=patient.sex,
        topography=d.topography,
        imaging_protocol=f"{d.ct_protocol}; {d.mr_protocol}",
    )
    if patient.population == "control":
        row.update(acquisition_date=_iso(patient.baseline), age=_years(patient.birth_date, patient.baseline))
        return row
    row.update(
        age_at_diagnosis=_years(patient.birth_date, patient.baseline),
        date_of_radiological_detection=_iso(patient.baseline),
        date_of_pathological_confirmation=_iso(patient.confirmation_date),
        method_of_pathological_confirmation=d.confirmation,
        pathology=d.pathology,
        treatment=d.treatment,
        date_of_first_treatment=_iso(patient.treatment_date),
    )
    return row
