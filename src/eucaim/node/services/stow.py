"""STOW-RS: store the parts of one request in the image store and index them, instance by instance.

Each instance is its own transaction: the object is put in the store first (atomically), then its
index row is committed, so a crash leaves at most an unindexed object that a re-send replaces.
Concurrent requests storing the same instance meet at the unique index on
(biobank, SOPInstanceUID); the loser re-reads the winner's row and answers from it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from eucaim.dicomweb.multipart import SpooledPart
from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import FailedInstance, StoredInstance
from eucaim.errors import InvalidDicomError
from eucaim.node.dicomweb.header import InstanceHeader, UnreadableInstance, read_instance_header
from eucaim.node.dicomweb.stow import check_against_stored, check_instance, check_part_envelope
from eucaim.node.models import Instance, Series, Study
from eucaim.node.store import ImageStore, object_key

logger = logging.getLogger(__name__)


@dataclass
class StowOutcome:
    """What happened to every part of one request."""

    stored: list[StoredInstance] = field(default_factory=list)
    failed: list[FailedInstance] = field(default_factory=list)
    study_uids: set[str] = field(default_factory=set)
    new_instances: int = 0
    new_bytes: int = 0


class DicomwebUrls:
    """Builds the WADO-RS URLs of one biobank (RetrieveURL values)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def study(self, study_uid: str) -> str:
        """Return the URL of a study."""
        return f"{self.base}/studies/{study_uid}"

    def series(self, study_uid: str, series_uid: str) -> str:
        """Return the URL of a series."""
        return f"{self.study(study_uid)}/series/{series_uid}"

    def instance(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        """Return the URL of an instance."""
        return f"{self.series(study_uid, series_uid)}/instances/{sop_uid}"


def store_parts(
    *,
    factory: sessionmaker[Session],
    store: ImageStore,
    biobank_id: int,
    biobank_code: str,
    parts: Sequence[SpooledPart],
    url_study_uid: str | None,
    urls: DicomwebUrls,
    spool_error: str | None = None,
) -> StowOutcome:
    """Store every acceptable part; return what was stored and what was refused, and why.

    ``spool_error`` is why reading the body stopped early, if it did (explains incomplete parts).
    """
    outcome = StowOutcome()
    for part in parts:
        failure = check_part_envelope(part, spool_error=spool_error)
        if failure is None:
            failure = _store_part(
                factory=factory,
                store=store,
                biobank_id=biobank_id,
                biobank_code=biobank_code,
                part=part,
                url_study_uid=url_study_uid,
                urls=urls,
                outcome=outcome,
            )
        if failure is not None:
            outcome.failed.append(failure)
    logger.info(
        "STOW into biobank %s: %d part(s), %d held, %d new (%d bytes), %d refused",
        biobank_code,
        len(parts),
        len(outcome.stored),
        outcome.new_instances,
        outcome.new_bytes,
        len(outcome.failed),
    )
    return outcome


def _store_part(
    *,
    factory: sessionmaker[Session],
    store: ImageStore,
    biobank_id: int,
    biobank_code: str,
    part: SpooledPart,
    url_study_uid: str | None,
    urls: DicomwebUrls,
    outcome: StowOutcome,
) -> FailedInstance | None:
    try:
        header = read_instance_header(part.path)
        key = object_key(
            biobank_code, header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid
        )
    except UnreadableInstance as exc:
        return FailedInstance(
            exc.identity.sop_class_uid,
            exc.identity.sop_instance_uid,
            FailureReason.CANNOT_UNDERSTAND,
            f"part {part.index + 1}: {exc}",
        )
    except InvalidDicomError as exc:
        return FailedInstance(None, None, FailureReason.CANNOT_UNDERSTAND, f"part {part.index + 1}: {exc}")
    failure = check_instance(header, url_study_uid=url_study_uid)
    if failure is not None:
        return failure
    # Two tries: the second runs only when a concurrent request indexed the same study, series or
    # instance between our read and our insert.
    placed = False
    for attempt in (1, 2):
        with factory() as session:
            stored_sha = session.scalar(
                select(Instance.sha256).where(
                    Instance.biobank_id == biobank_id, Instance.sop_instance_uid == header.sop_instance_uid
                )
            )
            failure = check_against_stored(header, stored_sha256=stored_sha, received_sha256=part.sha256)
            if failure is not None:
                return failure
            if stored_sha is None:
                try:
                    if not placed:  # put_file consumes the spooled file
                        store.put_file(key, part.path)
                        placed = True
                    _index(session, biobank_id=biobank_id, header=header, part=part, key=key)
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    logger.debug("concurrent STOW indexed the same study, series or instance; re-reading")
                    if attempt == 2:
                        raise
                    continue
                except OSError as exc:
                    logger.error("image store write failed in biobank %s: %s", biobank_code, exc.strerror)
                    return FailedInstance(
                        header.sop_class_uid,
                        header.sop_instance_uid,
                        FailureReason.OUT_OF_RESOURCES,
                        "the node could not write the instance; retry later",
                    )
                outcome.new_instances += 1
                outcome.new_bytes += part.size
            break
    outcome.stored.append(
        StoredInstance(
            header.sop_class_uid,
            header.sop_instance_uid,
            urls.instance(header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid),
        )
    )
    outcome.study_uids.add(header.study_instance_uid)
    return None


def _index(session: Session, *, biobank_id: int, header: InstanceHeader, part: SpooledPart, key: str) -> None:
    study = session.scalar(
        select(Study).where(
            Study.biobank_id == biobank_id, Study.study_instance_uid == header.study_instance_uid
        )
    )
    if study is None:
        study = Study(biobank_id=biobank_id, **header.study_values)
        session.add(study)
        session.flush()
    series = session.scalar(
        select(Series).where(
            Series.study_id == study.id, Series.series_instance_uid == header.series_instance_uid
        )
    )
    if series is None:
        series = Series(study_id=study.id, **header.series_values)
        session.add(series)
        session.flush()
    session.add(
        Instance(
            biobank_id=biobank_id,
            series_id=series.id,
            size=part.size,
            sha256=part.sha256,
            storage_key=key,
            **header.instance_values,
        )
    )
    session.flush()
