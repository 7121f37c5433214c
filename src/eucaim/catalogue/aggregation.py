"""Aggregation: the exact counts and ranges of a dataset, from its series, studies and clinical rows.

Unlike EUCAIM's reference service this counts subjects and studies separately (each value's
``subjects``, ``studies`` and, for series-level values, ``series``); reads every series, not the
first file of one; treats age 0 as a known age; and leaves an unknown bound ``None``, never 0.
Clinical values (sex, age at diagnosis, diagnosis, diagnosis year) win over DICOM for the subjects
that have them. Next to the ranges, histograms: subjects per 5-year age band (``ageGroups``, with an
open top band ``90+``) and studies per acquisition year (``acquisitionYears``), each with an
``Unknown`` row last, shaped like the term counts so that suppression treats them alike.
The keys of the inputs are opaque: nothing in the output names a subject or study.
Suppression of small counts is a separate step (:mod:`eucaim.catalogue.disclosure`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eucaim.catalogue.harmonise import (
    UNKNOWN_TERM,
    Term,
    body_part_term,
    diagnosis_term,
    manufacturer_term,
    modality_term,
    sex_term,
)

_AGE = re.compile(r"^(\d{1,3})([DWMY])$")
AGE_BAND = 5
TOP_AGE_BAND = 90  # ages from here on share one band: a very old age is itself identifying
_DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


@dataclass(frozen=True)
class SeriesFacts:
    """One series of the dataset, with its study and subject keys (opaque to this module)."""

    subject: str
    study: str
    modality: str | None = None
    body_part: str | None = None
    manufacturer: str | None = None
    instances: int = 0
    size: int = 0


@dataclass(frozen=True)
class StudyFacts:
    """The DICOM study-level values: sex, age (DICOM AS, e.g. ``054Y``) and date (YYYYMMDD)."""

    subject: str
    study: str
    sex: str | None = None
    age: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class SubjectFacts:
    """A subject's clinical values; ``None`` where the record does not say."""

    subject: str
    sex: str | None = None
    age_at_diagnosis: float | None = None  # years
    diagnosis: str | None = None
    diagnosis_year: int | None = None


def age_in_years(value: str | None) -> float | None:
    """Return a DICOM Age String in years (``000D`` is 0.0, a real age); None when absent or malformed."""
    match = _AGE.match((value or "").strip().upper())
    if match is None:
        return None
    return int(match.group(1)) * _DAYS_PER_UNIT[match.group(2)] / 365.25


def _year(date: str | None) -> int | None:
    text = (date or "").strip()
    if len(text) >= 4 and text[:4].isdigit() and int(text[:4]) > 1800:
        return int(text[:4])
    return None


def _term_counts(
    keyed: Mapping[Term, Iterable[tuple[str, str, str | None]]], *, with_series: bool
) -> list[dict[str, Any]]:
    """Turn term → (subject, study, series) tuples into sorted rows; Unknown goes last."""
    rows: list[dict[str, Any]] = []
    for term, members in keyed.items():
        members = list(members)
        row: dict[str, Any] = {"label": term.label, "code": term.code, "system": term.system}
        row["subjects"] = len({m[0] for m in members})
        row["studies"] = len({m[1] for m in members})
        if with_series:
            row["series"] = len({m[2] for m in members if m[2] is not None})
        rows.append(row)
    rows.sort(key=lambda r: (r["code"] is None and r["label"] == "Unknown", -r["studies"], r["label"]))
    return rows


def _series_values(
    series: list[SeriesFacts], term: Callable[[str | None], Term], attribute: str
) -> list[dict[str, Any]]:
    keyed: dict[Term, list[tuple[str, str, str | None]]] = defaultdict(list)
    for n, s in enumerate(series):
        keyed[term(getattr(s, attribute))].append((s.subject, s.study, str(n)))
    return _term_counts(keyed, with_series=True)


def _range(values: Sequence[float], unknown: dict[str, int]) -> dict[str, Any]:
    low = min(values) if values else None
    high = max(values) if values else None
    return {"min": low, "max": high, **unknown}


def aggregate(
    series: Iterable[SeriesFacts],
    studies: Iterable[StudyFacts],
    subjects: Iterable[SubjectFacts] = (),
) -> dict[str, Any]:
    """Return the dataset's exact aggregates as a JSON-ready dict.

    ``series`` drives what is in the dataset: a study or subject without a series is not counted.
    """
    series = list(series)
    in_dataset = {s.study for s in series}
    study_rows = {st.study: st for st in studies if st.study in in_dataset}
    for s in series:  # a study known only through its series still counts, with unknown values
        study_rows.setdefault(s.study, StudyFacts(subject=s.subject, study=s.study))
    subject_keys = {s.subject for s in series}
    clinical = {c.subject: c for c in subjects if c.subject in subject_keys}
    studies_of: dict[str, list[StudyFacts]] = defaultdict(list)
    for st in study_rows.values():
        studies_of[st.subject].append(st)

    sex = _subject_terms(studies_of, clinical, sex_term, lambda c: c.sex, lambda st: st.sex)
    diagnosis = _subject_terms(studies_of, clinical, diagnosis_term, lambda c: c.diagnosis, lambda st: None)
    ages, age_unknown_studies, age_unknown_subjects = _ages(studies_of, clinical)
    age_groups = _histogram(_age_members(studies_of, clinical), _age_band)
    acquisition = [y for st in study_rows.values() if (y := _year(st.date)) is not None]
    diagnosis_years = [c.diagnosis_year for c in clinical.values() if c.diagnosis_year is not None]
    return {
        "subjects": len(subject_keys),
        "studies": len(study_rows),
        "series": len(series),
        "instances": sum(s.instances for s in series),
        "sizeBytes": sum(s.size for s in series),
        "modality": _series_values(series, modality_term, "modality"),
        "bodyPart": _series_values(series, body_part_term, "body_part"),
        "manufacturer": _series_values(series, manufacturer_term, "manufacturer"),
        "sex": sex,
        "diagnosis": diagnosis,
        "ageYears": _range(
            ages, {"unknownSubjects": age_unknown_subjects, "unknownStudies": age_unknown_studies}
        ),
        "ageGroups": age_groups,
        "acquisitionYear": _range(acquisition, {"unknownStudies": len(study_rows) - len(acquisition)}),
        "acquisitionYears": _histogram(
            ((st.subject, st.study, _year(st.date)) for st in study_rows.values()), str
        ),
        "diagnosisYear": _range(
            diagnosis_years, {"unknownSubjects": len(subject_keys) - len(diagnosis_years)}
        ),
        "clinicalSubjects": len(clinical),
    }


def _subject_terms(
    studies_of: Mapping[str, list[StudyFacts]],
    clinical: Mapping[str, SubjectFacts],
    term: Callable[[str | None], Term],
    clinical_value: Callable[[SubjectFacts], str | None],
    study_value: Callable[[StudyFacts], str | None],
) -> list[dict[str, Any]]:
    """Count a subject-level value per subject and per study; clinical data wins over DICOM.

    Without a clinical value each study keeps its own DICOM value; the subject counts under each
    value its studies carry, so a subject whose studies disagree is visible under both.
    """
    keyed: dict[Term, list[tuple[str, str, str | None]]] = defaultdict(list)
    for subject, its_studies in studies_of.items():
        record = clinical.get(subject)
        from_clinical = term(clinical_value(record)) if record is not None else None
        for st in its_studies:
            chosen = (
                from_clinical if from_clinical and not from_clinical.is_unknown else term(study_value(st))
            )
            keyed[chosen].append((subject, st.study, None))
    return _term_counts(keyed, with_series=False)


def _ages(
    studies_of: Mapping[str, list[StudyFacts]], clinical: Mapping[str, SubjectFacts]
) -> tuple[list[float | int], int, int]:
    """Return the known ages in whole years, and the studies and subjects without any age."""
    ages: list[float | int] = []
    unknown_studies = 0
    unknown_subjects = 0
    for subject, its_studies in studies_of.items():
        record = clinical.get(subject)
        if record is not None and record.age_at_diagnosis is not None:
            ages.append(int(record.age_at_diagnosis))
            continue
        known = [a for st in its_studies if (a := age_in_years(st.age)) is not None]
        unknown_studies += len(its_studies) - len(known)
        if not known:
            unknown_subjects += 1
        ages.extend(int(a) for a in known)
    return ages, unknown_studies, unknown_subjects


def age_band(age: int) -> tuple[int, int | None]:
    """Return the band holding ``age`` in whole years: ``(40, 44)``, or ``(90, None)`` from TOP_AGE_BAND."""
    if age >= TOP_AGE_BAND:
        return TOP_AGE_BAND, None
    low = age - age % AGE_BAND
    return low, low + AGE_BAND - 1


def _age_band(age: int) -> str:
    low, high = age_band(age)
    return f"{low}+" if high is None else f"{low}-{high}"


def _age_members(
    studies_of: Mapping[str, list[StudyFacts]], clinical: Mapping[str, SubjectFacts]
) -> Iterable[tuple[str, str, int | None]]:
    """Yield (subject, study, age in whole years or None) with the same precedence as :func:`_ages`."""
    for subject, its_studies in studies_of.items():
        record = clinical.get(subject)
        for st in its_studies:
            if record is not None and record.age_at_diagnosis is not None:
                yield subject, st.study, int(record.age_at_diagnosis)
            else:
                age = age_in_years(st.age)
                yield subject, st.study, None if age is None else int(age)


def _histogram(
    members: Iterable[tuple[str, str, int | None]], label: Callable[[int], str]
) -> list[dict[str, Any]]:
    """Count subjects and studies per bin of a number, in the bins' order; ``None`` goes to Unknown, last."""
    keyed: dict[Term, list[tuple[str, str, str | None]]] = defaultdict(list)
    order: dict[Term, int] = {}
    for subject, study, value in members:
        term = Term(label(value)) if value is not None else UNKNOWN_TERM
        order.setdefault(term, value if value is not None else 10**6)  # any member orders its bin
        keyed[term].append((subject, study, None))
    rows = _term_counts(keyed, with_series=False)
    rank = {t.label: order[t] for t in keyed}
    rows.sort(key=lambda r: rank[r["label"]])
    return rows
