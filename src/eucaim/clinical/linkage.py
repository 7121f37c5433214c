"""Match clinical rows to imaging by patient: who has images but no row, rows without images, collisions.

Pure: it takes the clinical patient IDs (with their row numbers) and the workspace's imaging index
as plain data, and the site secret when pseudonyms are wanted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from eucaim.deid.pseudonym import DEFAULT_PSEUDONYM_FORMAT, derive_patient_pseudonym


@dataclass(frozen=True)
class ImagingStudy:
    """One study of a patient as the workspace indexed it (original UID, not shown by default)."""

    study_uid: str
    modality: str
    study_date: date | None = None


@dataclass(frozen=True)
class WorkspaceImaging:
    """What clinical work needs from a workspace: its site secret and pseudonym format (the ones
    the DICOM engine uses) and its imaging index, original PatientID -> studies."""

    secret: bytes
    studies: Mapping[str, Sequence[ImagingStudy]]
    pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT


class LinkStatus(StrEnum):
    LINKED = "linked"
    CLINICAL_ONLY = "clinical-only"
    IMAGING_ONLY = "imaging-only"


@dataclass(frozen=True)
class PatientLink:
    """One patient: the clinical rows and the studies that will carry the same pseudonym.

    ``near_match`` is an ID on the other side that differs only in case or leading zeros (the
    usual damage of a spreadsheet round trip): probably the same patient, written differently.
    """

    patient_id: str
    pseudonym: str | None
    rows: tuple[int, ...]
    studies: tuple[ImagingStudy, ...]
    near_match: str | None = None
    # Days between the clinical baseline date and the nearest dated study (linked patients only).
    date_gap_days: int | None = None

    @property
    def status(self) -> LinkStatus:
        if self.rows and self.studies:
            return LinkStatus.LINKED
        return LinkStatus.CLINICAL_ONLY if self.rows else LinkStatus.IMAGING_ONLY


@dataclass(frozen=True)
class Collision:
    """Different patient IDs that would share one pseudonym: their data would merge on the node."""

    pseudonym: str
    patient_ids: tuple[str, ...]


@dataclass(frozen=True)
class LinkageReport:
    links: tuple[PatientLink, ...]
    collisions: tuple[Collision, ...] = ()
    max_gap_days: int = 180

    def far_from_images(self) -> list[PatientLink]:
        """Linked patients whose clinical baseline is further than ``max_gap_days`` from every study."""
        return [
            link
            for link in self.links
            if link.date_gap_days is not None and link.date_gap_days > self.max_gap_days
        ]

    def with_status(self, status: LinkStatus) -> list[PatientLink]:
        return [link for link in self.links if link.status is status]

    @property
    def is_complete(self) -> bool:
        """Every clinical row has images, every imaged patient a row, and no pseudonym is shared."""
        return not self.collisions and all(link.status is LinkStatus.LINKED for link in self.links)

    def summary(self) -> str:
        linked = self.with_status(LinkStatus.LINKED)
        studies = sum(len(link.studies) for link in linked)
        parts = [
            f"{len(linked)} patient(s) linked to {studies} study(ies)",
            f"{len(self.with_status(LinkStatus.IMAGING_ONLY))} with images but no clinical row",
            f"{len(self.with_status(LinkStatus.CLINICAL_ONLY))} clinical row(s) without images",
        ]
        if self.collisions:
            parts.append(f"{len(self.collisions)} pseudonym collision(s)")
        if far := self.far_from_images():
            parts.append(f"{len(far)} with no study within {self.max_gap_days} days of the clinical baseline")
        return "linkage: " + ", ".join(parts)


def _fold(patient_id: str) -> str:
    return patient_id.casefold().lstrip("0") or "0"


def _gap(baseline: date | None, studies: Sequence[ImagingStudy]) -> int | None:
    dated = [s.study_date for s in studies if s.study_date is not None]
    if baseline is None or not dated:
        return None
    return min(abs((day - baseline).days) for day in dated)


def link(
    clinical: Mapping[str, Sequence[int]],
    imaging: Mapping[str, Sequence[ImagingStudy]],
    *,
    secret: bytes | None = None,
    pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT,
    baselines: Mapping[str, date] | None = None,
    max_gap_days: int = 180,
) -> LinkageReport:
    """Link clinical patient IDs (-> their row numbers) with imaging patient IDs (-> their studies).

    IDs are compared after trimming spaces, as pseudonyms are derived. Without ``secret`` the
    report has no pseudonyms and cannot detect collisions. ``baselines`` (patient ID -> clinical
    baseline date, original calendar like the study dates) lets the report flag patients whose
    images were taken nowhere near the clinical timepoint: often the wrong patient or wrong study.
    """
    dates = {p.strip(): d for p, d in (baselines or {}).items()}
    rows: dict[str, list[int]] = defaultdict(list)
    for patient_id, numbers in clinical.items():
        rows[patient_id.strip()].extend(numbers)
    studies: dict[str, list[ImagingStudy]] = defaultdict(list)
    for patient_id, found in imaging.items():
        studies[patient_id.strip()].extend(found)
    folded_clinical = {_fold(p): p for p in rows}
    folded_imaging = {_fold(p): p for p in studies}
    links: list[PatientLink] = []
    for patient_id in sorted(set(rows) | set(studies)):
        pseudonym = derive_patient_pseudonym(secret, patient_id, fmt=pseudonym_format) if secret else None
        near = None
        if patient_id not in studies:
            near = folded_imaging.get(_fold(patient_id))
        elif patient_id not in rows:
            near = folded_clinical.get(_fold(patient_id))
        links.append(
            PatientLink(
                patient_id=patient_id,
                pseudonym=pseudonym,
                rows=tuple(sorted(rows.get(patient_id, ()))),
                studies=tuple(studies.get(patient_id, ())),
                near_match=near,
                date_gap_days=_gap(dates.get(patient_id), studies.get(patient_id, ())),
            )
        )
    by_pseudonym: dict[str, list[str]] = defaultdict(list)
    for entry in links:
        if entry.pseudonym is not None:
            by_pseudonym[entry.pseudonym].append(entry.patient_id)
    collisions = tuple(
        Collision(pseudonym, tuple(ids)) for pseudonym, ids in sorted(by_pseudonym.items()) if len(ids) > 1
    )
    return LinkageReport(links=tuple(links), collisions=collisions, max_gap_days=max_gap_days)
