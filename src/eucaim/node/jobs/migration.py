"""The store migration job: copy every indexed object to another store, resumable on any runner.

The copying is :mod:`eucaim.node.store.migrate`; this module keeps its progress in the job's row
(after every object), so a runner killed mid-migration is followed by one that continues from the
last object recorded, on this host or another. One job per pair of stores (``filesystem-to-s3``)
is open at a time; the next one starts from the last one's state, so a run after a finished one
copies only what was stored since, as the command always did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from eucaim.node.context import NodeContext
from eucaim.node.db import session_scope
from eucaim.node.jobs.locks import job_lock, lock_key
from eucaim.node.jobs.models import JobKind, JobStatus
from eucaim.node.jobs.records import JobRecord, end_job, get_job, latest_job, request_job, save_progress
from eucaim.node.settings import Settings
from eucaim.node.store.factory import build_store, store_kind
from eucaim.node.store.migrate import (
    MigrationState,
    MigrationSummary,
    ObjectCopied,
    count_objects,
    migrate_objects,
    state_path,
)


def migration_subject(source: str, target: str) -> str:
    """Return the job subject of a migration between two store kinds."""
    return f"{source}-to-{target}"


def request_migration(
    context: NodeContext,
    *,
    source: str,
    target: str,
    requested_by: str,
    now: datetime,
    restart: bool = False,
) -> JobRecord:
    """Return the open migration job of this pair of stores, or a new one that resumes the last.

    A new job starts from the previous job's state; the very first one takes over the state file
    that versions before the queue kept in the data folder, if there is one. ``restart`` forgets
    the progress instead (every object is then verified in the target again); it waits for a
    runner busy with the job, so the reset is never overwritten by it.
    """
    sessions, data_dir = context.sessions, context.settings.data_dir
    subject = migration_subject(source, target)
    if restart:
        key = lock_key(JobKind.STORE_MIGRATION, subject)
        with job_lock(context.engine, key, lock_dir=data_dir / "locks"):
            job = request_migration(context, source=source, target=target, requested_by=requested_by, now=now)
            fresh = MigrationState(source=source, target=target).to_dict()
            save_progress(
                sessions, job.id, progress=0.0, message="progress forgotten: verifying all", state=fresh
            )
            return get_job(sessions, job.id)
    previous = latest_job(sessions, kind=JobKind.STORE_MIGRATION, subject=subject)
    if previous is not None:
        start = MigrationState.from_dict(previous.state, source=source, target=target)
    else:
        legacy = state_path(data_dir, source, target)
        start = MigrationState.load_legacy(legacy) or MigrationState(source=source, target=target)
    job, created = request_job(
        sessions,
        kind=JobKind.STORE_MIGRATION,
        subject=subject,
        requested_by=requested_by,
        now=now,
        state=start.to_dict(),
    )
    if created and previous is None:
        state_path(data_dir, source, target).unlink(missing_ok=True)  # its content is in the row now
    return job


def run_migration(
    sessions: sessionmaker[Session],
    settings: Settings,
    job: JobRecord,
    *,
    clock: Callable[[], datetime],
    on_object: Callable[[ObjectCopied], None] = lambda _: None,
) -> MigrationSummary:
    """Copy what the job has not copied yet and end it: finished when complete, else error."""
    source, _, target = job.subject.partition("-to-")
    state = MigrationState.from_dict(job.state, source=source, target=target)
    total = max(count_objects(sessions), 1)

    def save(current: MigrationState) -> None:
        done = current.copied + current.present
        save_progress(
            sessions,
            job.id,
            progress=done / total,
            message=f"{done} of {total} objects in {target}",
            state=current.to_dict(),
        )

    summary = migrate_objects(
        factory=sessions,
        source=build_store(settings, store_kind(state.source)),
        target=build_store(settings, store_kind(state.target)),
        state=state,
        save=save,
        tmp_dir=settings.tmp_dir,
        on_object=on_object,
    )
    message = (
        f"{summary.copied} copied ({summary.bytes} bytes), {summary.present} already in {target}, "
        f"{len(summary.failed)} failed, of {summary.total} indexed"
    )
    with session_scope(sessions) as session:
        end_job(
            session,
            job.id,
            status=JobStatus.FINISHED if summary.is_complete else JobStatus.ERROR,
            message=message,
            now=clock(),
            state=state.to_dict(),
        )
    return summary
