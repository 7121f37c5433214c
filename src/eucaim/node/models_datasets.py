"""The node's dataset tables: datasets, their frozen series lists, creation jobs and the audit log.

Correctness under concurrency comes from the database, not from locks in the process:

- ``datasets.row_version`` is bumped by every state change with ``UPDATE ... WHERE row_version = ?``,
  so of two simultaneous releases exactly one updates a row;
- ``datasets.draft_of`` holds ``previous_id`` only while the dataset is being created or in draft,
  and is unique, so only one draft may point at a given previous version (NULLs never collide);
- ``audit_log.prev_hash`` is unique, so two entries can never claim the same predecessor and the
  hash chain cannot fork.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eucaim.node.models import Base, UtcDateTime, utcnow


class Dataset(Base):
    """A dataset a data holder built from one biobank's index; its properties are the API's names."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID, as in EUCAIM
    biobank_id: Mapped[int] = mapped_column(ForeignKey("biobanks.id", ondelete="RESTRICT"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), index=True)
    # The state an invalidated dataset left, so reactivation returns to it.
    state_before_invalidation: Mapped[str | None] = mapped_column(String(16))
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    # Descriptive metadata (description, version, license, ...), keyed as in the API.
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    previous_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    draft_of: Mapped[str | None] = mapped_column(String(36), unique=True)
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Aggregates computed from the frozen series (exact counts; suppression happens on output).
    aggregates: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    aggregated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(String(512))
    invalidation_reason: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DatasetSeries(Base):
    """One series frozen into a dataset at creation: later uploads never change a dataset."""

    __tablename__ = "dataset_series"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class DatasetJob(Base):
    """The creation job of a dataset: pending → running → finished | error, with progress."""

    __tablename__ = "dataset_jobs"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(1024), default="")
    series_total: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """One append-only audit entry; ``hash`` = sha256(prev_hash + canonical JSON of the entry)."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("prev_hash"), UniqueConstraint("hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    dataset_id: Mapped[str | None] = mapped_column(String(36), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
