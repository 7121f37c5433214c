"""The ``node_jobs`` table: long node jobs other than dataset creation (aggregation, store migration).

A row is the whole truth about a job: what it is, how far it got and how it ended. The queue (or the
process that runs it in place) carries only its id, so any worker on any host can take it up, and a
job whose worker died resumes from the progress saved here.

At most one job of a kind per subject is unfinished at a time (a partial unique index on
``finished_at IS NULL``): asking twice for the same aggregation, or starting a migration from two
terminals, yields the one job already under way rather than two racing each other.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from eucaim.node.models import Base, UtcDateTime, utcnow


class JobKind(StrEnum):
    """What a node job does; its ``subject`` is a dataset id or a ``<source>-to-<target>`` pair."""

    AGGREGATE = "aggregate"
    STORE_MIGRATION = "store-migration"


class JobStatus(StrEnum):
    """pending → running → finished | error; a ``running`` row whose runner died is resumed."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    ERROR = "error"


_UNFINISHED = text("finished_at IS NULL")


class NodeJob(Base):
    """One long job: its kind, subject, status, progress, saved state and who asked for it."""

    __tablename__ = "node_jobs"
    __table_args__ = (
        Index(
            "uq_node_jobs_one_unfinished",
            "kind",
            "subject",
            unique=True,
            sqlite_where=_UNFINISHED,
            postgresql_where=_UNFINISHED,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(1024), default="")
    # Resumable progress (a migration's counters and position); never PHI, never secrets.
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by: Mapped[str] = mapped_column(String(128))
    # How many times a runner started it (more than 1: it was resumed after a runner died).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
