"""Node job rows: ask for a job (or get the one under way), claim it, save progress, end it, show it.

Only this module writes ``node_jobs``. A runner claims a job only while it holds the job's lock
(:mod:`eucaim.node.jobs.locks`), so a ``running`` row it finds belongs to a runner that died: the
claim takes it over and the job continues from the state saved in the row.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import NotFound
from eucaim.node.db import session_scope
from eucaim.node.jobs.models import JobKind, JobStatus, NodeJob

_OPEN = (JobStatus.PENDING.value, JobStatus.RUNNING.value)


@dataclass(frozen=True)
class JobRecord:
    """A snapshot of one job row."""

    id: str
    kind: JobKind
    subject: str
    status: JobStatus
    progress: float
    message: str
    state: dict[str, Any]
    requested_by: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def is_done(self) -> bool:
        """Return True once the job finished or failed (it will not run again by itself)."""
        return self.status in (JobStatus.FINISHED, JobStatus.ERROR)


def _record(job: NodeJob) -> JobRecord:
    return JobRecord(
        id=job.id,
        kind=JobKind(job.kind),
        subject=job.subject,
        status=JobStatus(job.status),
        progress=job.progress,
        message=job.message,
        state=dict(job.state or {}),
        requested_by=job.requested_by,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _open_job(session: Session, kind: JobKind, subject: str) -> NodeJob | None:
    return session.scalars(
        select(NodeJob).where(
            NodeJob.kind == kind.value, NodeJob.subject == subject, NodeJob.finished_at.is_(None)
        )
    ).first()


def request_job(
    sessions: sessionmaker[Session],
    *,
    kind: JobKind,
    subject: str,
    requested_by: str,
    now: datetime,
    state: dict[str, Any] | None = None,
) -> tuple[JobRecord, bool]:
    """Return the unfinished job of ``kind`` on ``subject``, creating it; and whether it is new.

    Two callers racing both get the same job: the partial unique index lets one insert win.
    """
    for _ in range(3):
        try:
            with session_scope(sessions) as session:
                existing = _open_job(session, kind, subject)
                if existing is not None:
                    return _record(existing), False
                job = NodeJob(
                    id=str(uuid.uuid4()),
                    kind=kind.value,
                    subject=subject,
                    status=JobStatus.PENDING.value,
                    progress=0.0,
                    message="queued",
                    state=state or {},
                    requested_by=requested_by,
                    attempts=0,
                    created_at=now,
                )
                session.add(job)
                session.flush()
                record = _record(job)
            return record, True
        except IntegrityError:
            continue  # another caller created it between our look and our insert: take theirs
    raise AssertionError(f"could not create or find the {kind.value} job of {subject}")


def get_job(sessions: sessionmaker[Session], job_id: str) -> JobRecord:
    """Return a job by id.

    Raises:
        NotFound: no such job.
    """
    with sessions() as session:
        job = session.get(NodeJob, job_id)
        if job is None:
            raise NotFound(f"no job {job_id} on this node", hint="list jobs with `eucaim-node job list`")
        return _record(job)


def latest_job(sessions: sessionmaker[Session], *, kind: JobKind, subject: str) -> JobRecord | None:
    """Return the newest job of ``kind`` on ``subject``, finished or not."""
    with sessions() as session:
        job = session.scalars(
            select(NodeJob)
            .where(NodeJob.kind == kind.value, NodeJob.subject == subject)
            .order_by(NodeJob.created_at.desc())
            .limit(1)
        ).first()
        return _record(job) if job is not None else None


def list_jobs(sessions: sessionmaker[Session], *, limit: int = 50) -> list[JobRecord]:
    """Return the newest jobs first."""
    with sessions() as session:
        rows = session.scalars(select(NodeJob).order_by(NodeJob.created_at.desc()).limit(limit))
        return [_record(job) for job in rows]


def claim_job(sessions: sessionmaker[Session], job_id: str, *, now: datetime) -> JobRecord | None:
    """Mark a pending job, or one whose runner died, as running here; None when it is done.

    Call only while holding the job's lock: that is what makes a ``running`` row an orphan.
    """
    with session_scope(sessions) as session:
        result = session.execute(
            update(NodeJob)
            .where(NodeJob.id == job_id, NodeJob.status.in_(_OPEN))
            .values(status=JobStatus.RUNNING.value, started_at=now, attempts=NodeJob.attempts + 1)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        job = session.get(NodeJob, job_id)
        assert job is not None
        return _record(job)


def save_progress(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    progress: float,
    message: str,
    state: dict[str, Any] | None = None,
) -> None:
    """Record how far a running job got (and the state it resumes from)."""
    values: dict[str, Any] = {"progress": max(0.0, min(progress, 1.0)), "message": message[:1024]}
    if state is not None:
        values["state"] = state
    with session_scope(sessions) as session:
        session.execute(update(NodeJob).where(NodeJob.id == job_id).values(**values))


def end_job(
    session: Session,
    job_id: str,
    *,
    status: JobStatus,
    message: str,
    now: datetime,
    state: dict[str, Any] | None = None,
) -> None:
    """End a job as finished or error, inside the caller's transaction (with the job's effects)."""
    values: dict[str, Any] = {"status": status.value, "message": message[:1024], "finished_at": now}
    if status is JobStatus.FINISHED:
        values["progress"] = 1.0
    if state is not None:
        values["state"] = state
    session.execute(update(NodeJob).where(NodeJob.id == job_id).values(**values))


def wait_for_job(sessions: sessionmaker[Session], job_id: str, *, timeout_s: float) -> JobRecord:
    """Return the job once it is done, or as it is when ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        job = get_job(sessions, job_id)
        if job.is_done or time.monotonic() >= deadline:
            return job
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def job_view(job: JobRecord) -> dict[str, Any]:
    """Return the API's record of a job (no secrets or PHI are ever in a job row)."""
    view: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind.value,
        "subject": job.subject,
        "status": job.status.value,
        "progress": round(job.progress, 4),
        "message": job.message,
        "attempts": job.attempts,
        "requestedBy": job.requested_by,
        "createdAt": job.created_at.isoformat(),
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.kind is JobKind.AGGREGATE:
        view["dataset"] = job.subject
    if job.kind is JobKind.STORE_MIGRATION:
        state = job.state
        view["objects"] = {
            "copied": state.get("copied", 0),
            "present": state.get("present", 0),
            "failed": len(state.get("failed") or {}),
            "bytes": state.get("bytes", 0),
        }
    return view
