"""The append-only audit log: entries chained by hash, appended in the caller's transaction, verified.

``hash = sha256(prev_hash + canonical JSON of {at, actor, action, dataset, details})``; the first
entry's ``prev_hash`` is 64 zeros. Changing, removing or reordering any stored entry breaks the
chain at that entry, which :func:`verify_chain` reports. Appends take turns through the database:
an advisory transaction lock on PostgreSQL; on SQLite the caller has already written in its
transaction (SQLite then holds the one write lock), and the unique ``prev_hash`` column refuses a
fork either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from eucaim.node.models_datasets import AuditEntry

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x61756469  # "audi": any constant, the same in every process


def canonical(value: Any) -> str:
    """Return the canonical JSON text hashed for an entry (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    prev_hash: str, *, at: datetime, actor: str, action: str, dataset_id: str | None, details: str
) -> str:
    """Return the hash of one entry given its predecessor's hash (``details`` is canonical JSON)."""
    body = canonical(
        {"at": at.isoformat(), "actor": actor, "action": action, "dataset": dataset_id, "details": details}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    dataset_id: str | None,
    details: dict[str, Any],
    now: datetime,
) -> AuditEntry:
    """Append an entry after the current last one, inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    last = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    prev = last or GENESIS
    # Microseconds are dropped: not every backend keeps them, and the stored time must re-hash.
    at = now.replace(microsecond=0)
    text_details = canonical(details)
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        dataset_id=dataset_id,
        details=text_details,
        prev_hash=prev,
        hash=entry_hash(prev, at=at, actor=actor, action=action, dataset_id=dataset_id, details=text_details),
    )
    session.add(entry)
    session.flush()
    logger.info("audit: %s %s by %s", action, dataset_id or "-", actor)
    return entry


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: ``ok``, how many entries, and the first broken entry's id."""

    ok: bool
    entries: int
    broken_at: int | None = None
    reason: str = ""


def verify_chain(session: Session) -> ChainReport:
    """Re-hash every entry in order and check each points at its predecessor."""
    prev = GENESIS
    count = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        count += 1
        if entry.prev_hash != prev:
            return ChainReport(False, count, entry.id, "does not point at the entry before it")
        expected = entry_hash(
            prev,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            dataset_id=entry.dataset_id,
            details=entry.details,
        )
        if entry.hash != expected:
            return ChainReport(False, count, entry.id, "its content does not match its hash")
        prev = entry.hash
    return ChainReport(True, count)


def list_entries(
    session: Session, *, dataset_id: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Return entries oldest first (optionally of one dataset) as JSON-ready dicts."""
    query = select(AuditEntry).order_by(AuditEntry.id).limit(limit)
    if dataset_id is not None:
        query = query.where(AuditEntry.dataset_id == dataset_id)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "datasetId": e.dataset_id,
            "details": json.loads(e.details),
            "prevHash": e.prev_hash,
            "hash": e.hash,
        }
        for e in session.scalars(query)
    ]
