"""Clinical records on the node: check each record again, store it as a new version, list and read them.

Every record is checked against the biobank's schema and refused for a subject the biobank holds
no study for, unless the biobank allows clinical-only subjects (rules: ``eucaim.node.clinical_rules``).
An accepted record whose content hash equals the current version's is "unchanged" and writes
nothing, so a client may resend safely. Each record is its own transaction; the unique
(biobank, subject, version) constraint decides races and the loser retries on the new head.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from eucaim.clinical.pseudonymise import content_hash
from eucaim.clinical.schema import Schema
from eucaim.errors import NotFound, TransientError
from eucaim.node.clinical_rules import (
    RecordResult,
    RecordStatus,
    VersionInfo,
    base_schema,
    canonical_json,
    linkage_problem,
    next_version,
    record_problems,
    schema_with_extension,
)
from eucaim.node.models import Study
from eucaim.node.models_clinical import BiobankClinicalSettings, ClinicalRecordVersion

logger = logging.getLogger(__name__)

# Each lost race means another writer stored a version; past this many in a row the request is
# answered 503 (retry later) rather than holding the worker.
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class ClinicalPolicy:
    """What a biobank accepts: its schema and whether subjects without images may have records."""

    schema: Schema
    allow_clinical_only: bool = False


@dataclass(frozen=True)
class StoredRecord:
    """A subject's record as stored (one version), with its history when asked for."""

    subject: str
    version: int
    content_hash: str
    created_at: datetime
    record: dict[str, Any]
    history: tuple[VersionInfo, ...] = ()


@dataclass(frozen=True)
class SubjectSummary:
    """A subject's current version and hash: what a client diffs against before sending."""

    subject: str
    version: int
    content_hash: str
    updated_at: datetime


# -- settings -----------------------------------------------------------------------------------


def clinical_policy(session: Session, *, biobank_id: int) -> ClinicalPolicy:
    """Return the biobank's clinical policy (defaults when nothing was set)."""
    settings = session.get(BiobankClinicalSettings, biobank_id)
    if settings is None:
        return ClinicalPolicy(schema=base_schema())
    return ClinicalPolicy(
        schema=schema_with_extension(settings.schema_extension),
        allow_clinical_only=settings.allow_clinical_only,
    )


def set_clinical_settings(
    session: Session,
    *,
    biobank_id: int,
    allow_clinical_only: bool | None = None,
    schema_extension: str | None = None,
) -> ClinicalPolicy:
    """Change a biobank's clinical settings; ``None`` leaves a setting as it is.

    Raises:
        ConfigError: the schema extension is invalid (nothing is changed).
    """
    if schema_extension is not None:
        schema_with_extension(schema_extension)  # refuse a broken extension before storing it
    settings = session.get(BiobankClinicalSettings, biobank_id)
    if settings is None:
        settings = BiobankClinicalSettings(biobank_id=biobank_id, allow_clinical_only=False)
        session.add(settings)
    if allow_clinical_only is not None:
        settings.allow_clinical_only = allow_clinical_only
    if schema_extension is not None:
        settings.schema_extension = schema_extension or None
    settings.updated_at = datetime.now(UTC)
    session.flush()
    return clinical_policy(session, biobank_id=biobank_id)


# -- writing ------------------------------------------------------------------------------------


def _has_images(session: Session, biobank_id: int, subject: str) -> bool:
    query = select(Study.id).where(Study.biobank_id == biobank_id, Study.patient_id == subject).limit(1)
    return session.scalar(query) is not None


def _versions(biobank_id: int, subject: str) -> Select[int, str, datetime]:
    """The subject's versions (number, hash, time), oldest first."""
    record = ClinicalRecordVersion
    return (
        select(record.version, record.content_hash, record.created_at)
        .where(record.biobank_id == biobank_id, record.subject == subject)
        .order_by(record.version)
    )


def _current(session: Session, biobank_id: int, subject: str) -> VersionInfo | None:
    query = _versions(biobank_id, subject).order_by(None).order_by(ClinicalRecordVersion.version.desc())
    row = session.execute(query.limit(1)).first()
    return VersionInfo(row[0], row[1], row[2]) if row is not None else None


def _store(
    factory: sessionmaker[Session], biobank_id: int, subject: str, document: Mapping[str, Any], user_id: int
) -> RecordResult:
    digest = content_hash(document)
    text = canonical_json(document)
    for _attempt in range(MAX_ATTEMPTS):
        with factory() as session:
            status, version = next_version(_current(session, biobank_id, subject), digest)
            if status is RecordStatus.UNCHANGED:
                return RecordResult(subject, status, digest, version)
            session.add(
                ClinicalRecordVersion(
                    biobank_id=biobank_id,
                    subject=subject,
                    version=version,
                    content_hash=digest,
                    document=text,
                    created_by=user_id,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                # A concurrent writer took this version number: read the new head and try again.
                session.rollback()
                logger.debug("clinical record version race for %s; retrying", subject)
                continue
            return RecordResult(subject, status, digest, version)
    raise TransientError(f"the clinical record could not be stored after {MAX_ATTEMPTS} concurrent updates")


def put_record(
    factory: sessionmaker[Session],
    *,
    biobank_id: int,
    document: Any,
    user_id: int,
    subject: str | None = None,
    policy: ClinicalPolicy | None = None,
) -> RecordResult:
    """Check one record and store it as the subject's next version unless it is unchanged.

    ``subject`` is the pseudonym from the URL of a single PUT (the record must repeat it).
    A refused record comes back with status ``rejected`` and its problems; nothing is stored.
    """
    with factory() as session:
        if policy is None:
            policy = clinical_policy(session, biobank_id=biobank_id)
        named, problems = record_problems(document, schema=policy.schema, subject=subject)
        if named is not None and not problems:
            refused = linkage_problem(
                has_images=_has_images(session, biobank_id, named),
                allow_clinical_only=policy.allow_clinical_only,
            )
            problems += [refused] if refused else []
    if problems or named is None or not isinstance(document, Mapping):
        return RecordResult(named, RecordStatus.REJECTED, problems=tuple(problems))
    return _store(factory, biobank_id, named, document, user_id)


def put_records(
    factory: sessionmaker[Session], *, biobank_id: int, documents: Sequence[Any], user_id: int
) -> list[RecordResult]:
    """Check and store each record on its own (partial success); results in input order."""
    with factory() as session:
        policy = clinical_policy(session, biobank_id=biobank_id)
    results = [
        put_record(factory, biobank_id=biobank_id, document=doc, user_id=user_id, policy=policy)
        for doc in documents
    ]
    counts = {status: sum(r.status is status for r in results) for status in RecordStatus}
    logger.info(
        "clinical records for biobank %d: %d created, %d updated, %d unchanged, %d rejected",
        biobank_id,
        counts[RecordStatus.CREATED],
        counts[RecordStatus.UPDATED],
        counts[RecordStatus.UNCHANGED],
        counts[RecordStatus.REJECTED],
    )
    return results


# -- reading ------------------------------------------------------------------------------------


def get_record(
    session: Session, *, biobank_id: int, subject: str, version: int | None = None, history: bool = False
) -> StoredRecord:
    """Return the subject's current record (or ``version``), with every version's hash if asked.

    Raises:
        NotFound: the subject has no clinical record (or not that version) in this biobank.
    """
    query = select(ClinicalRecordVersion).where(
        ClinicalRecordVersion.biobank_id == biobank_id, ClinicalRecordVersion.subject == subject
    )
    if version is not None:
        query = query.where(ClinicalRecordVersion.version == version)
    row = session.scalar(query.order_by(ClinicalRecordVersion.version.desc()).limit(1))
    if row is None:
        which = f"version {version} of the" if version is not None else "a"
        raise NotFound(
            f"subject has no {which} clinical record in this biobank",
            hint="list the biobank's records with GET /biobanks/{code}/clinical",
        )
    versions: tuple[VersionInfo, ...] = ()
    if history:
        versions = tuple(
            VersionInfo(r[0], r[1], r[2]) for r in session.execute(_versions(biobank_id, subject))
        )
    return StoredRecord(
        subject=row.subject,
        version=row.version,
        content_hash=row.content_hash,
        created_at=row.created_at,
        record=json.loads(row.document),
        history=versions,
    )


def list_subjects(
    session: Session, *, biobank_id: int, limit: int, offset: int
) -> tuple[int, list[SubjectSummary]]:
    """Return the number of subjects with a record and one page of them (by pseudonym)."""
    heads = (
        select(ClinicalRecordVersion.subject, func.max(ClinicalRecordVersion.version).label("version"))
        .where(ClinicalRecordVersion.biobank_id == biobank_id)
        .group_by(ClinicalRecordVersion.subject)
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(heads)) or 0
    rows = session.execute(
        select(ClinicalRecordVersion)
        .join(
            heads,
            (ClinicalRecordVersion.subject == heads.c.subject)
            & (ClinicalRecordVersion.version == heads.c.version),
        )
        .where(ClinicalRecordVersion.biobank_id == biobank_id)
        .order_by(ClinicalRecordVersion.subject)
        .limit(limit)
        .offset(offset)
    ).scalars()
    page = [SubjectSummary(r.subject, r.version, r.content_hash, r.created_at) for r in rows]
    return total, page
