"""Find, and on request delete, objects in the image store that no index row references.

Orphans are what crashes leave: a STOW killed between writing its object and committing its row,
or the content-addressed copy (``<sop>/<sha256>.dcm``) of a loser whose clean-up did not run.
They are harmless (the index is the truth about what the node holds) but take space.

Deleting is careful, because the index is written after the object: a STOW may be indexing an
old orphan's instance at this very moment (its write found the same bytes already there and kept
them). So only objects older than ``min_age_s`` are candidates, the index is checked again just
after each delete, the bytes are kept in a temporary file across the delete, and if a row
appeared meanwhile they are put back. The STOW does the mirror image: once its row is committed it
checks that its object is still there and writes it again from the request's bytes if not
(eucaim.node.store.write_once.put_back_if_gone). gc deletes then reads the index, STOW commits then
reads the store, so whichever acts second sees the other: no row is left without its object.
Listing works on the filesystem and S3 stores; a PACS used as store is cleaned with its own tools.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import ConfigError, NotFound
from eucaim.node.models import Instance
from eucaim.node.store.base import ImageStore
from eucaim.node.store.filesystem import STAGING, FilesystemStore

if TYPE_CHECKING:
    from eucaim.node.store.s3 import S3Store

logger = logging.getLogger(__name__)

_BATCH = 500
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """One object found in the store: its key, size and last change (seconds since the epoch)."""

    key: str
    size: int
    modified: float


@dataclass
class GcReport:
    """What a collection found (and, with ``delete``, removed)."""

    scanned: int = 0
    young: int = 0  # orphans newer than min_age_s: left alone, they may belong to a STOW in flight
    orphans: list[StoredObject] = field(default_factory=list)
    deleted: int = 0
    kept_for_new_rows: int = 0  # an orphan that got its row during the collection: put back

    @property
    def orphan_bytes(self) -> int:
        """Return the total size of the orphans old enough to collect."""
        return sum(o.size for o in self.orphans)


def list_objects(store: ImageStore) -> Iterator[StoredObject]:
    """Yield every object of the store (not its staging files or health probes).

    Raises:
        ConfigError: the store cannot be listed (a PACS used as store).
    """
    if isinstance(store, FilesystemStore):
        yield from _list_folder(store.root)
        return
    from eucaim.node.store.s3 import S3Store

    if isinstance(store, S3Store):
        yield from _list_bucket(store)
        return
    raise ConfigError(
        f"store gc lists filesystem and S3 stores, not {type(store).__name__}",
        hint="clean a PACS used as image store with the PACS's own tools",
    )


def is_collectable(store: ImageStore) -> bool:
    """Return True for the stores gc lists and deletes from (filesystem, S3), whose STOWs re-check."""
    if isinstance(store, FilesystemStore):
        return True
    from eucaim.node.store.s3 import S3Store

    return isinstance(store, S3Store)


def _list_folder(root: Path) -> Iterator[StoredObject]:
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root and STAGING in dirs:
            dirs.remove(STAGING)
        for name in files:
            if not name.endswith(".dcm"):
                continue
            path = Path(folder) / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            yield StoredObject(path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime)


def _list_bucket(store: S3Store) -> Iterator[StoredObject]:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            key = str(obj["Key"]).removeprefix(store.prefix)
            if key.endswith(".dcm") and not key.startswith(".health/"):
                yield StoredObject(key, int(obj["Size"]), obj["LastModified"].timestamp())


def _indexed(sessions: sessionmaker[Session], keys: list[str]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(Instance.storage_key).where(Instance.storage_key.in_(keys))))


def find_orphans(
    sessions: sessionmaker[Session], store: ImageStore, *, now: float, min_age_s: float
) -> GcReport:
    """Return the store's objects no index row references, older than ``min_age_s``."""
    report = GcReport()
    batch: list[StoredObject] = []

    def check(objects: list[StoredObject]) -> None:
        indexed = _indexed(sessions, [o.key for o in objects])
        for obj in objects:
            if obj.key in indexed:
                continue
            if now - obj.modified < min_age_s:
                report.young += 1
            else:
                report.orphans.append(obj)

    for obj in list_objects(store):
        report.scanned += 1
        batch.append(obj)
        if len(batch) >= _BATCH:
            check(batch)
            batch = []
    if batch:
        check(batch)
    return report


def delete_orphans(
    sessions: sessionmaker[Session], store: ImageStore, report: GcReport, *, tmp_dir: Path
) -> None:
    """Delete the report's orphans, each only if still unindexed, restoring any that got a row."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for obj in report.orphans:
        if _indexed(sessions, [obj.key]):
            report.kept_for_new_rows += 1
            continue
        kept = tmp_dir / f"gc-{uuid.uuid4().hex}.tmp"
        try:
            try:
                with store.open(obj.key) as src, kept.open("wb") as out:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
            except NotFound:
                continue  # gone already
            store.delete(obj.key)
            if _indexed(sessions, [obj.key]):
                store.put_file(obj.key, kept)  # a STOW indexed it meanwhile: its bytes go back
                report.kept_for_new_rows += 1
                logger.warning("object %s got an index row while being collected; put back", obj.key)
                continue
            report.deleted += 1
        finally:
            kept.unlink(missing_ok=True)
    logger.info("store gc: %d orphan object(s) deleted", report.deleted)
