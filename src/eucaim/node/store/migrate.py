"""Copy every indexed object from one image store to another, verified, resumable and idempotent.

``eucaim-node store migrate --from fs --to s3`` runs this, in its own process or as a queue job
(:mod:`eucaim.node.jobs.migration`). Objects are copied in index order (``instance.id``), each one
streamed from the source into a temporary file while its sha256 is computed, checked against its
index row, written once to the target (keys stay the same) and read back from the target to check
its sha256 again. Progress (:class:`MigrationState`) is handed to a ``save`` callback after every
object; the job keeps it in its database row, so a killed run continues where it stopped, on any
host, and a run after a finished one copies only what was stored since (objects already in the
target are verified, not written again).

The node's configured store is not flipped by this module: settings come from the environment or
the operator's config file, which the node never rewrites. When the summary reports every object
copied and none failed, the operator stops the workers, runs the command once more (it copies what
arrived meanwhile), sets ``EUCAIM_NODE_STORE`` to the target and starts the workers again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import EucaimError, NotFound
from eucaim.node.models import Instance
from eucaim.node.store.base import ImageStore
from eucaim.node.store.write_once import sha256_of

logger = logging.getLogger(__name__)

_PAGE = 200
_CHUNK = 1024 * 1024


@dataclass
class MigrationState:
    """What a migration between two stores has done so far (the state file's content)."""

    source: str
    target: str
    done_through_id: int = 0
    copied: int = 0
    present: int = 0
    bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # instance id -> reason

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str, target: str) -> MigrationState:
        """Return the state saved as ``data`` (a job row's), or a fresh one when it is empty."""
        if not data:
            return cls(source=source, target=target)
        return cls(**data)

    @classmethod
    def load_legacy(cls, path: Path) -> MigrationState | None:
        """Return the state an earlier version kept in a JSON file in the data folder, if any."""
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-able data (what a job row keeps)."""
        return asdict(self)


@dataclass(frozen=True)
class ObjectCopied:
    """One object handled: ``outcome`` is ``copied``, ``present`` or ``failed``."""

    instance_id: int
    outcome: str
    size: int
    reason: str = ""


@dataclass(frozen=True)
class MigrationSummary:
    """The result of one run, for the command's summary."""

    total: int
    copied: int
    present: int
    failed: dict[str, str]
    bytes: int
    seconds: float

    @property
    def is_complete(self) -> bool:
        """Return True when every indexed object is in the target and verified."""
        return not self.failed and self.copied + self.present >= self.total


def state_path(data_dir: Path, source: str, target: str) -> Path:
    """Return where versions before the job queue kept a migration's state (read once, then gone)."""
    return data_dir / f"store-migration-{source}-to-{target}.json"


def count_objects(factory: sessionmaker[Session]) -> int:
    """Return how many objects the index lists."""
    with factory() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)


def migrate_objects(
    *,
    factory: sessionmaker[Session],
    source: ImageStore,
    target: ImageStore,
    state: MigrationState,
    save: Callable[[MigrationState], None],
    tmp_dir: Path,
    on_object: Callable[[ObjectCopied], None] = lambda _: None,
) -> MigrationSummary:
    """Copy what ``state`` has not done yet (earlier failures first); return the run's summary.

    ``save`` is called with the state after every object: what it keeps is where a killed run resumes.
    """
    started = time.monotonic()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    retry = sorted(int(i) for i in state.failed)
    state.failed = {}
    for instance_id in retry:
        with factory() as session:
            row = session.get(Instance, instance_id)
            if row is not None:
                _copy(
                    row.id, row.storage_key, row.sha256, row.size, source, target, state, tmp_dir, on_object
                )
        save(state)
    while True:
        with factory() as session:
            rows = session.execute(
                select(Instance.id, Instance.storage_key, Instance.sha256, Instance.size)
                .where(Instance.id > state.done_through_id)
                .order_by(Instance.id)
                .limit(_PAGE)
            ).all()
        if not rows:
            break
        for instance_id, key, sha256, size in rows:
            _copy(instance_id, key, sha256, size, source, target, state, tmp_dir, on_object)
            state.done_through_id = instance_id
            save(state)
    summary = MigrationSummary(
        total=count_objects(factory),
        copied=state.copied,
        present=state.present,
        failed=dict(state.failed),
        bytes=state.bytes,
        seconds=time.monotonic() - started,
    )
    logger.info(
        "store migration %s -> %s: %d copied, %d already there, %d failed",
        state.source,
        state.target,
        summary.copied,
        summary.present,
        len(summary.failed),
    )
    return summary


def _copy(
    instance_id: int,
    key: str,
    sha256: str,
    size: int,
    source: ImageStore,
    target: ImageStore,
    state: MigrationState,
    tmp_dir: Path,
    on_object: Callable[[ObjectCopied], None],
) -> None:
    try:
        outcome = _copy_verified(key, sha256, size, source, target, tmp_dir)
    except (EucaimError, OSError, ValueError) as exc:
        reason = str(exc) if not isinstance(exc, OSError) else f"{type(exc).__name__}: {exc.strerror}"
        state.failed[str(instance_id)] = reason
        logger.warning("object of instance row %d not migrated: %s", instance_id, reason)
        on_object(ObjectCopied(instance_id, "failed", size, reason))
        return
    if outcome == "copied":
        state.copied += 1
        state.bytes += size
    else:
        state.present += 1
    on_object(ObjectCopied(instance_id, outcome, size))


def _copy_verified(
    key: str, sha256: str, size: int, source: ImageStore, target: ImageStore, tmp_dir: Path
) -> str:
    """Copy one object; return ``copied`` or ``present``; raise with the reason otherwise."""
    if target.exists(key) and _digest(target, key) == (sha256, size):
        return "present"
    tmp = tmp_dir / f"migrate-{uuid.uuid4().hex}.tmp"
    try:
        with source.open(key) as src, tmp.open("wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
        with tmp.open("rb") as f:
            if sha256_of(f) != (sha256, size):
                raise EucaimError(
                    f"the source's object {key} differs from its index row",
                    hint="the source store was changed behind the node; restore the object first",
                )
        if not target.put_new(key, tmp, sha256=sha256) and not _settles(target, key, (sha256, size)):
            raise EucaimError(
                f"the target already holds other bytes under {key}",
                hint="remove that object from the target store, then run the migration again",
            )
    finally:
        tmp.unlink(missing_ok=True)
    if _digest(target, key) != (sha256, size):
        raise EucaimError(f"the target's copy of {key} does not read back as written", hint="run it again")
    return "copied"


# A write of a runner killed in flight can still be settling in the target when the next run looks
# (seen once with SeaweedFS: the key taken, its bytes not yet the right ones): look again before
# calling the object another one's.
_SETTLE_DELAYS_S = (0.5, 1.0, 2.0)


def _settles(store: ImageStore, key: str, expected: tuple[str, int]) -> bool:
    for delay in _SETTLE_DELAYS_S:
        time.sleep(delay)
        if _digest(store, key) == expected:
            return True
    return False


def _digest(store: ImageStore, key: str) -> tuple[str, int] | None:
    try:
        with store.open(key) as f:
            return sha256_of(f)
    except NotFound:
        return None
