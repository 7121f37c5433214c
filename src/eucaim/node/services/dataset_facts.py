"""What aggregation reads from the node: a dataset's series, studies and subjects' clinical records.

Every frozen series is read (its index row, the count and size of its instances), never a sample.
Clinical values come from each subject's latest clinical record version when there is one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eucaim.catalogue.aggregation import SeriesFacts, StudyFacts, SubjectFacts, aggregate
from eucaim.node.models import Instance, Series, Study
from eucaim.node.models_clinical import ClinicalRecordVersion
from eucaim.node.models_datasets import DatasetSeries


def _subject_key(study: Study) -> str:
    # A study without PatientID still belongs to somebody: count it as its own subject.
    return study.patient_id or f"study:{study.id}"


def compute_aggregates(session: Session, *, dataset_id: str, biobank_id: int) -> dict[str, Any]:
    """Return the exact aggregates of the dataset's frozen series (see eucaim.catalogue.aggregation)."""
    sizes = (
        select(
            Instance.series_id, func.count().label("n"), func.coalesce(func.sum(Instance.size), 0).label("b")
        )
        .group_by(Instance.series_id)
        .subquery()
    )
    rows = session.execute(
        select(Series, Study, sizes.c.n, sizes.c.b)
        .join(DatasetSeries, DatasetSeries.series_id == Series.id)
        .join(Study, Study.id == Series.study_id)
        .outerjoin(sizes, sizes.c.series_id == Series.id)
        .where(DatasetSeries.dataset_id == dataset_id)
    ).all()
    series: list[SeriesFacts] = []
    studies: dict[int, StudyFacts] = {}
    for s, st, n, size in rows:
        subject = _subject_key(st)
        series.append(
            SeriesFacts(
                subject=subject,
                study=str(st.id),
                modality=s.modality,
                body_part=s.body_part_examined,
                manufacturer=s.manufacturer,
                instances=int(n or 0),
                size=int(size or 0),
            )
        )
        studies[st.id] = StudyFacts(
            subject=subject, study=str(st.id), sex=st.patient_sex, age=st.patient_age, date=st.study_date
        )
    subjects = {f.subject for f in series}
    return aggregate(
        series, studies.values(), clinical_facts(session, biobank_id=biobank_id, subjects=subjects)
    )


def clinical_facts(session: Session, *, biobank_id: int, subjects: set[str]) -> list[SubjectFacts]:
    """Return the clinical values of the subjects' latest record versions."""
    if not subjects:
        return []
    latest = (
        select(ClinicalRecordVersion.subject, func.max(ClinicalRecordVersion.version).label("v"))
        .where(ClinicalRecordVersion.biobank_id == biobank_id)
        .group_by(ClinicalRecordVersion.subject)
        .subquery()
    )
    query = select(ClinicalRecordVersion.subject, ClinicalRecordVersion.document).join(
        latest,
        (latest.c.subject == ClinicalRecordVersion.subject) & (latest.c.v == ClinicalRecordVersion.version),
    )
    facts = []
    for subject, document in session.execute(query.where(ClinicalRecordVersion.biobank_id == biobank_id)):
        if subject in subjects:
            facts.append(subject_facts(subject, json.loads(document)))
    return facts


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _year(value: Any) -> int | None:
    text = str(value or "")
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def subject_facts(subject: str, record: Mapping[str, Any]) -> SubjectFacts:
    """Read sex, age, diagnosis and diagnosis year from a record in the EUCAIM minimum schema.

    Controls are counted under the diagnosis "Control"; a case's diagnosis is its pathology
    (ICD-O-3 morphology), else its topography. A control's age is its ``age`` field.
    """
    # Stored documents wrap the schema's fields: {"subject", "schema", ..., "fields": {...}}.
    inner = record.get("fields")
    if isinstance(inner, Mapping):
        record = inner
    population = str(record.get("population") or "").lower()
    if population == "control":
        diagnosis: str | None = "Control"
    else:
        diagnosis = str(record.get("pathology") or record.get("topography") or "") or None
    age = _number(record.get("age_at_diagnosis"))
    if age is None:
        age = _number(record.get("age"))
    year = _year(record.get("date_pathological_confirmation")) or _year(
        record.get("date_radiological_detection")
    )
    sex = record.get("sex")
    return SubjectFacts(
        subject=subject,
        sex=str(sex) if sex and str(sex).lower() != "unknown" else None,
        age_at_diagnosis=age,
        diagnosis=diagnosis,
        diagnosis_year=year,
    )
