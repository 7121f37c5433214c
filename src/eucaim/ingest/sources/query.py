"""What to look for on a PACS and what it answered: C-FIND identifiers in, study matches out (pure).

PACS replies are often incomplete or ignore some matching keys (RSNA/anonymizer#11, #18), so
replies are parsed tolerantly, filtered again on our side, and merged by StudyInstanceUID when a
PACS reports one study under several PatientIDs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from pydicom import Dataset

from eucaim.errors import ConfigError

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# Characters that are wildcards in C-FIND matching; a literal value containing them would
# silently widen the query to other patients.
_WILDCARDS = frozenset("*?\\")


def is_valid_uid(value: str) -> bool:
    """Return whether ``value`` is a syntactically valid DICOM UID (digits and dots, ≤ 64 chars)."""
    return len(value) <= 64 and bool(_UID.match(value))


@dataclass(frozen=True)
class StudyQuery:
    """Criteria for studies on a PACS; every given criterion must match.

    Dates are inclusive; ``date_from`` or ``date_to`` alone gives an open range. At least one
    criterion is required, so a typo cannot ask the PACS for every study it holds.
    """

    patient_id: str | None = None
    accession_number: str | None = None
    study_uid: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    modality: str | None = None

    def __post_init__(self) -> None:
        criteria = (self.patient_id, self.accession_number, self.study_uid, self.date_from, self.date_to)
        if all(c is None for c in criteria):
            raise ConfigError(
                "a study query needs a patient ID, accession number, study UID or date",
                hint="a modality alone would match most of the PACS",
            )
        for name in ("patient_id", "accession_number", "modality"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or _WILDCARDS & set(value)):
                raise ConfigError(
                    f"the query's {name} is empty or contains a C-FIND wildcard (* ? \\)",
                    hint="give the exact value; wildcards would match other patients",
                )
        if self.study_uid is not None and not is_valid_uid(self.study_uid):
            raise ConfigError(
                "the query's study UID is not a DICOM UID",
                hint="a UID is digits separated by dots, at most 64 characters",
            )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ConfigError(
                f"the query's date range is reversed ({self.date_from} after {self.date_to})",
                hint="give the earlier date first",
            )


@dataclass(frozen=True)
class StudyMatch:
    """One study a PACS reported. Missing optional keys are ``None`` or empty."""

    study_uid: str
    patient_ids: tuple[str, ...] = ()
    accession_number: str | None = None
    study_date: date | None = None
    modalities: tuple[str, ...] = ()
    description: str | None = None
    instance_count: int | None = None
    retrieve_aet: str | None = field(default=None, compare=False)

    @property
    def patient_id(self) -> str | None:
        """The first PatientID reported, or ``None``."""
        return self.patient_ids[0] if self.patient_ids else None


def format_date_range(date_from: date | None, date_to: date | None) -> str:
    """Return a DICOM DA range (``YYYYMMDD-YYYYMMDD``, open at either end), or ``""``."""
    if date_from is None and date_to is None:
        return ""
    start = date_from.strftime("%Y%m%d") if date_from else ""
    end = date_to.strftime("%Y%m%d") if date_to else ""
    return start if start == end else f"{start}-{end}"


def build_find_identifier(query: StudyQuery) -> Dataset:
    """Return the STUDY-level C-FIND identifier for ``query``, asking for every key we read back."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = query.study_uid or ""
    ds.PatientID = query.patient_id or ""
    ds.AccessionNumber = query.accession_number or ""
    ds.StudyDate = format_date_range(query.date_from, query.date_to)
    ds.ModalitiesInStudy = query.modality or ""
    ds.StudyDescription = ""
    ds.NumberOfStudyRelatedInstances = ""
    return ds


def parse_da(value: object) -> date | None:
    """Return the date in a DICOM DA value, or ``None`` when it is missing or malformed."""
    match = _DA.match(str(value or "").strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


def _modalities(ds: Dataset) -> tuple[str, ...]:
    value = ds.get("ModalitiesInStudy")
    if not value:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    # Some PACS send one string with the backslash still inside instead of a multi-value.
    parts = {part.strip().upper() for item in items for part in str(item).split("\\")}
    return tuple(sorted(p for p in parts if p))


def _count(ds: Dataset) -> int | None:
    try:
        value = ds.get("NumberOfStudyRelatedInstances")
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def parse_find_reply(ds: Dataset | None) -> StudyMatch | None:
    """Return the study in one C-FIND reply, or ``None`` when it lacks a usable StudyInstanceUID."""
    if ds is None:
        return None
    try:
        study_uid = _text(ds, "StudyInstanceUID")
        if study_uid is None or not is_valid_uid(study_uid):
            return None
        patient_id = _text(ds, "PatientID")
        return StudyMatch(
            study_uid=study_uid,
            patient_ids=(patient_id,) if patient_id else (),
            accession_number=_text(ds, "AccessionNumber"),
            study_date=parse_da(ds.get("StudyDate")),
            modalities=_modalities(ds),
            description=_text(ds, "StudyDescription"),
            instance_count=_count(ds),
            retrieve_aet=_text(ds, "RetrieveAETitle"),
        )
    except Exception:  # a garbled reply must not end the whole query
        return None


def matches(query: StudyQuery, match: StudyMatch) -> bool:
    """Return whether ``match`` satisfies ``query`` as far as the reply tells.

    Keys the PACS left out are given the benefit of the doubt; keys it filled in must agree,
    because some PACS ignore matching keys they do not index.
    """
    if query.study_uid and match.study_uid != query.study_uid:
        return False
    if query.patient_id and match.patient_ids and query.patient_id not in match.patient_ids:
        return False
    if query.accession_number and match.accession_number not in (None, query.accession_number):
        return False
    if query.modality and match.modalities and query.modality.upper() not in match.modalities:
        return False
    if match.study_date is not None:
        if query.date_from and match.study_date < query.date_from:
            return False
        if query.date_to and match.study_date > query.date_to:
            return False
    return True


def merge_matches(replies: Iterable[StudyMatch]) -> list[StudyMatch]:
    """Merge replies by StudyInstanceUID, keeping every PatientID and modality seen, in reply order."""
    merged: dict[str, StudyMatch] = {}
    for reply in replies:
        seen = merged.get(reply.study_uid)
        if seen is None:
            merged[reply.study_uid] = reply
            continue
        merged[reply.study_uid] = StudyMatch(
            study_uid=seen.study_uid,
            patient_ids=tuple(dict.fromkeys(seen.patient_ids + reply.patient_ids)),
            accession_number=seen.accession_number or reply.accession_number,
            study_date=seen.study_date or reply.study_date,
            modalities=tuple(sorted(set(seen.modalities) | set(reply.modalities))),
            description=seen.description or reply.description,
            instance_count=max(
                (c for c in (seen.instance_count, reply.instance_count) if c is not None), default=None
            ),
            retrieve_aet=seen.retrieve_aet or reply.retrieve_aet,
        )
    return list(merged.values())


def select_studies(query: StudyQuery, replies: Iterable[StudyMatch | None]) -> tuple[list[StudyMatch], int]:
    """Return the studies to keep from parsed C-FIND replies, and how many replies were dropped.

    A study is kept when at least one of its replies satisfies ``query``; its other replies
    (e.g. the same study under a merged PatientID) are merged into it rather than lost.
    """
    replies = list(replies)
    parsed = [reply for reply in replies if reply is not None]
    wanted = {reply.study_uid for reply in parsed if matches(query, reply)}
    kept = [reply for reply in parsed if reply.study_uid in wanted]
    return merge_matches(kept), len(replies) - len(kept)
