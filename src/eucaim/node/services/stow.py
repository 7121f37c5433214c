"""STOW-RS: store the parts of one request in the image store and index them.

A request runs in four steps:

1. **check** each part (envelope, header, de-identification, study, what the node already holds);
2. **put** the new objects into the store, several at a time (each put is durable on return, and
   the waits for the disk overlap);
3. **index** them in one transaction;
4. **re-check** each indexed object is still in the store, writing it again from the request's
   bytes if not: ``store gc --delete`` may have collected it between 2 and 3, when the put found
   the same bytes already there as an orphan (eucaim.node.store.write_once.put_back_if_gone). Only
   on stores gc collects from (filesystem, S3); the request keeps a hard link to each part's
   bytes until then.

A re-sent instance the node already indexes (same bytes) stores nothing new, but its object is
checked too (a stat, a HEAD, on a PACS a QIDO): one its row names but the store lost (a disk
restore, an operator, a bucket lifecycle rule) is written again from the request's bytes, so
re-sending repairs it. The answer is the same as for any re-send.

The object is always in the store before its row is committed, so a crash leaves at most an
unindexed object that a re-send of the same bytes finds in place. Concurrent requests storing the
same instance meet at the unique index on (biobank, SOPInstanceUID): when the batch transaction hits
it, the instances are indexed one per transaction, and for each one the row that won decides the
answer (same bytes: stored; other bytes: refused as a duplicate). Objects are written once
(eucaim.node.store.write_once): the loser's different bytes went to a key of their own, which it
deletes, and the winner's object is never overwritten.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from eucaim.dicomweb.multipart import SpooledPart
from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import FailedInstance, StoredInstance
from eucaim.errors import Conflict, InvalidDicomError, TransientError
from eucaim.node.dicomweb.header import InstanceHeader, UnreadableInstance, read_instance_header
from eucaim.node.dicomweb.stow import check_against_stored, check_instance, check_part_envelope
from eucaim.node.models import Instance, Series, Study
from eucaim.node.store import ImageStore, object_key
from eucaim.node.store.gc import is_collectable
from eucaim.node.store.write_once import place_once, put_back_if_absent, put_back_if_gone

logger = logging.getLogger(__name__)

# Puts in flight at once: enough to overlap fsync waits on one disk, few enough for 2 cores.
PUT_CONCURRENCY = 8


@dataclass
class StowOutcome:
    """What happened to every part of one request."""

    stored: list[StoredInstance] = field(default_factory=list)
    failed: list[FailedInstance] = field(default_factory=list)
    study_uids: set[str] = field(default_factory=set)
    new_instances: int = 0
    new_bytes: int = 0
    repaired: int = 0  # re-sent instances whose lost object was written again


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


@dataclass
class _New:
    """A checked instance the node does not hold yet; ``key`` is where it was placed.

    ``indexed`` turns True once a committed index row names ``key`` (this request's or a racing
    one's with the same bytes): only then must the object stay.
    """

    part: SpooledPart
    header: InstanceHeader
    key: str
    indexed: bool = False


@dataclass
class _Held:
    """A re-sent instance the node already indexes with these bytes, under ``key`` (its row's)."""

    part: SpooledPart
    header: InstanceHeader
    key: str
    size: int


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
    held: list[_Held] = []
    with factory() as session:
        new = _check(session, biobank_id, biobank_code, parts, url_study_uid, outcome, held, spool_error)
    recheck = is_collectable(store)
    placed = _put_all(store, biobank_code, new, outcome, keep_bytes=recheck)
    indexed = _index_all(factory, store, biobank_id, placed, outcome)
    if recheck:
        _recheck_all(store, [item for item in placed if item.indexed])
    kept = _repair_held(store, held, outcome, can_stat=recheck)
    for header in [*kept, *indexed]:
        outcome.stored.append(
            StoredInstance(
                header.sop_class_uid,
                header.sop_instance_uid,
                urls.instance(header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid),
            )
        )
        outcome.study_uids.add(header.study_instance_uid)
    logger.info(
        "STOW into biobank %s: %d part(s), %d held, %d new (%d bytes), %d lost object(s) written "
        "again, %d refused",
        biobank_code,
        len(parts),
        len(outcome.stored),
        outcome.new_instances,
        outcome.new_bytes,
        outcome.repaired,
        len(outcome.failed),
    )
    return outcome


def _check(
    session: Session,
    biobank_id: int,
    biobank_code: str,
    parts: Sequence[SpooledPart],
    url_study_uid: str | None,
    outcome: StowOutcome,
    held: list[_Held],
    spool_error: str | None,
) -> list[_New]:
    """Sort parts into refused (to ``outcome``), already held (to ``held``) and new (returned)."""
    new: list[_New] = []
    in_request: dict[str, str] = {}  # SOPInstanceUID -> sha256 of its first part in this request
    for part in parts:
        failure = check_part_envelope(part, spool_error=spool_error)
        header: InstanceHeader | None = None
        if failure is None:
            header, key, failure = _read(part, biobank_code)
        if failure is None and header is not None:
            failure = check_instance(header, url_study_uid=url_study_uid)
        if failure is None and header is not None:
            uid = header.sop_instance_uid
            row = None if uid in in_request else _stored_row(session, biobank_id, uid)
            stored_sha = in_request.get(uid) or (row[0] if row is not None else None)
            failure = check_against_stored(header, stored_sha256=stored_sha, received_sha256=part.sha256)
            if failure is None and stored_sha is None:
                new.append(_New(part, header, key))
                in_request[uid] = part.sha256
            elif failure is None and row is not None:
                held.append(_Held(part, header, key=row[1], size=row[2]))
        if failure is not None:
            outcome.failed.append(failure)
    return new


def _read(part: SpooledPart, biobank_code: str) -> tuple[InstanceHeader | None, str, FailedInstance | None]:
    try:
        header = read_instance_header(part.path)
        key = object_key(
            biobank_code, header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid
        )
    except UnreadableInstance as exc:
        return (
            None,
            "",
            FailedInstance(
                exc.identity.sop_class_uid,
                exc.identity.sop_instance_uid,
                FailureReason.CANNOT_UNDERSTAND,
                f"part {part.index + 1}: {exc}",
            ),
        )
    except InvalidDicomError as exc:
        return (
            None,
            "",
            FailedInstance(None, None, FailureReason.CANNOT_UNDERSTAND, f"part {part.index + 1}: {exc}"),
        )
    return header, key, None


def _stored_row(session: Session, biobank_id: int, sop_uid: str) -> tuple[str, str, int] | None:
    """Return the sha256, storage_key and size of the instance's index row, if it has one."""
    row = session.execute(
        select(Instance.sha256, Instance.storage_key, Instance.size).where(
            Instance.biobank_id == biobank_id, Instance.sop_instance_uid == sop_uid
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def _put_all(
    store: ImageStore, biobank_code: str, new: list[_New], outcome: StowOutcome, *, keep_bytes: bool
) -> list[_New]:
    """Put the new objects into the store; return those now in place.

    With ``keep_bytes`` each put consumes a hard link to the part, so the part's own file still
    holds the bytes for the re-check after indexing.
    """
    if not new:
        return []

    def put(item: _New) -> Exception | None:
        # Remote stores fail with TransientError (unreachable) or Conflict (a PACS holding other
        # bytes under this SOPInstanceUID), the filesystem with OSError.
        source = item.part.path
        try:
            if keep_bytes:
                source = _second_name(item.part.path)
            item.key = place_once(
                store,
                biobank_code=biobank_code,
                study_uid=item.header.study_instance_uid,
                series_uid=item.header.series_instance_uid,
                sop_uid=item.header.sop_instance_uid,
                source=source,
                sha256=item.part.sha256,
            )
        except (OSError, TransientError, Conflict) as exc:
            return exc
        finally:
            if source != item.part.path:
                source.unlink(missing_ok=True)  # consumed by a put that succeeded
        return None

    with ThreadPoolExecutor(min(PUT_CONCURRENCY, len(new)), thread_name_prefix="stow-put") as pool:
        errors = list(pool.map(put, new))
    placed = []
    for item, error in zip(new, errors, strict=True):
        if error is None:
            placed.append(item)
            continue
        if isinstance(error, Conflict):
            outcome.failed.append(
                FailedInstance(
                    item.header.sop_class_uid,
                    item.header.sop_instance_uid,
                    FailureReason.DUPLICATE_SOP_INSTANCE,
                    "the image store holds other bytes under this SOPInstanceUID; it keeps the first",
                )
            )
            continue
        reason = error.strerror if isinstance(error, OSError) else str(error)
        logger.error("image store write failed in biobank %s: %s", biobank_code, reason)
        outcome.failed.append(
            FailedInstance(
                item.header.sop_class_uid,
                item.header.sop_instance_uid,
                FailureReason.OUT_OF_RESOURCES,
                "the node could not write the instance; retry later",
            )
        )
    return placed


def _second_name(path: Path) -> Path:
    """Return a second name for ``path``'s bytes beside it: a hard link, or a copy where none can be."""
    twin = path.with_name(path.name + ".put")
    try:
        os.link(path, twin)
    except OSError:
        shutil.copyfile(path, twin)
    return twin


def _recheck_all(store: ImageStore, items: list[_New]) -> None:
    """Write again, from the request's bytes, every indexed object that vanished before its row."""
    if not items:
        return

    def recheck(item: _New) -> None:
        try:
            if put_back_if_gone(
                store, item.key, item.part.path, sha256=item.part.sha256, size=item.part.size
            ):
                logger.warning("object %s vanished before its index row (store gc?); written again", item.key)
        except (OSError, TransientError, Conflict) as exc:
            # The object was in place at the put; only a collection at this very moment removes it.
            logger.error("could not re-check object %s after indexing it: %s", item.key, exc)
        finally:
            item.part.path.unlink(missing_ok=True)  # as a put without re-check would have consumed it

    with ThreadPoolExecutor(min(PUT_CONCURRENCY, len(items)), thread_name_prefix="stow-recheck") as pool:
        list(pool.map(recheck, items))


def _repair_held(
    store: ImageStore, held: list[_Held], outcome: StowOutcome, *, can_stat: bool
) -> list[InstanceHeader]:
    """Write again every re-sent instance's object the store lost; return the headers now held.

    With ``can_stat`` (filesystem, S3) a stat or HEAD per instance, and an object missing or of
    another size than its row is written from the request's bytes, which are the row's (same
    sha256); on a PACS a QIDO per instance, and a missing one is stored again. One that cannot be
    written is refused like a failed put, so the client retries instead of trusting it.
    """
    if not held:
        return []

    def repair(item: _Held) -> Exception | bool:
        source, sha256 = item.part.path, item.part.sha256
        try:
            if can_stat:
                return put_back_if_gone(store, item.key, source, sha256=sha256, size=item.size)
            return put_back_if_absent(store, item.key, source, sha256=sha256)
        except (OSError, TransientError, Conflict) as exc:
            return exc

    # One check per object: a request may carry the same instance twice.
    unique = list({item.key: item for item in held}.values())
    with ThreadPoolExecutor(min(PUT_CONCURRENCY, len(unique)), thread_name_prefix="stow-repair") as pool:
        results = dict(zip([item.key for item in unique], pool.map(repair, unique), strict=True))
    for key, result in results.items():
        if result is True:
            logger.warning(
                "object %s named by an index row was missing or truncated; written again from a re-send", key
            )
            outcome.repaired += 1
        elif isinstance(result, Exception):
            reason = result.strerror if isinstance(result, OSError) else str(result)
            logger.error("could not write again the lost object %s: %s", key, reason)
    kept = []
    for item in held:
        if not isinstance(results[item.key], Exception):
            kept.append(item.header)
            continue
        outcome.failed.append(
            FailedInstance(
                item.header.sop_class_uid,
                item.header.sop_instance_uid,
                FailureReason.OUT_OF_RESOURCES,
                "the node lost this instance's object and could not write it again; retry later",
            )
        )
    return kept


def _index_all(
    factory: sessionmaker[Session],
    store: ImageStore,
    biobank_id: int,
    placed: list[_New],
    outcome: StowOutcome,
) -> list[InstanceHeader]:
    """Index the placed objects; return the headers of those the node now holds."""
    if not placed:
        return []
    try:
        with factory() as session:
            cache: dict[tuple[str, ...], int] = {}
            for item in placed:
                _index(session, biobank_id, item, cache)
            session.commit()
    except IntegrityError:
        logger.debug("concurrent STOW indexed some of the same objects; indexing one by one")
        return [h for item in placed if (h := _index_one(factory, store, biobank_id, item, outcome))]
    for item in placed:
        item.indexed = True
    outcome.new_instances += len(placed)
    outcome.new_bytes += sum(item.part.size for item in placed)
    return [item.header for item in placed]


def _index_one(
    factory: sessionmaker[Session], store: ImageStore, biobank_id: int, item: _New, outcome: StowOutcome
) -> InstanceHeader | None:
    # Two tries: the second runs when a concurrent request indexed the same study or series.
    for attempt in (1, 2):
        with factory() as session:
            row = session.execute(
                select(Instance.sha256, Instance.storage_key).where(
                    Instance.biobank_id == biobank_id,
                    Instance.sop_instance_uid == item.header.sop_instance_uid,
                )
            ).first()
            if row is not None:
                stored_sha, stored_key = row
                if stored_key != item.key:
                    # Lost the race: the row points at the winner's object, ours is unindexed.
                    _delete_orphan(store, item.key)
                failure = check_against_stored(
                    item.header, stored_sha256=stored_sha, received_sha256=item.part.sha256
                )
                if failure is not None:
                    outcome.failed.append(failure)
                    return None
                item.indexed = stored_key == item.key
                return item.header
            try:
                _index(session, biobank_id, item, {})
                session.commit()
            except IntegrityError:
                session.rollback()
                if attempt == 2:
                    raise
                continue
            item.indexed = True
            outcome.new_instances += 1
            outcome.new_bytes += item.part.size
            return item.header
    return None


def _index(session: Session, biobank_id: int, item: _New, cache: dict[tuple[str, ...], int]) -> None:
    header = item.header
    study_key = (header.study_instance_uid,)
    study_id = cache.get(study_key)
    if study_id is None:
        study_id = session.scalar(
            select(Study.id).where(
                Study.biobank_id == biobank_id, Study.study_instance_uid == header.study_instance_uid
            )
        )
        if study_id is None:
            study = Study(biobank_id=biobank_id, **header.study_values)
            session.add(study)
            session.flush()
            study_id = study.id
        cache[study_key] = study_id
    series_key = (header.study_instance_uid, header.series_instance_uid)
    series_id = cache.get(series_key)
    if series_id is None:
        series_id = session.scalar(
            select(Series.id).where(
                Series.study_id == study_id, Series.series_instance_uid == header.series_instance_uid
            )
        )
        if series_id is None:
            series = Series(study_id=study_id, **header.series_values)
            session.add(series)
            session.flush()
            series_id = series.id
        cache[series_key] = series_id
    session.add(
        Instance(
            biobank_id=biobank_id,
            series_id=series_id,
            size=item.part.size,
            sha256=item.part.sha256,
            storage_key=item.key,
            **header.instance_values,
        )
    )
    session.flush()


def _delete_orphan(store: ImageStore, key: str) -> None:
    # Best effort: an unindexed object is harmless garbage, and the answer must not depend on it.
    try:
        store.delete(key)
    except (OSError, TransientError) as exc:
        logger.warning("could not delete the unindexed object %s: %s", key, exc)
