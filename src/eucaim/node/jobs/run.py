"""Run one node job here and now: take its lock, claim it, run it by kind; a failure ends in its row.

Every runner goes through :func:`run_node_job`: a queue worker (``eucaim-node worker`` or ``serve``
on PostgreSQL), a request of an embedded SQLite node, and ``eucaim-node store migrate`` run from a
terminal. The lock makes them take turns on one job, on any host; the claim inside it resumes a job
whose earlier runner died.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import EucaimError
from eucaim.node.context import NodeContext
from eucaim.node.db import session_scope
from eucaim.node.jobs.aggregation import run_aggregation
from eucaim.node.jobs.locks import job_lock, lock_key
from eucaim.node.jobs.migration import run_migration
from eucaim.node.jobs.models import JobKind, JobStatus
from eucaim.node.jobs.records import JobRecord, claim_job, end_job, get_job
from eucaim.node.store.migrate import ObjectCopied

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def run_node_job(
    context: NodeContext,
    job_id: str,
    *,
    on_object: Callable[[ObjectCopied], None] = lambda _: None,
    clock: Callable[[], datetime] = _now,
) -> JobRecord:
    """Run the job if it is not done yet (waiting for a runner already on it); return how it ended.

    ``on_object`` follows each object of a store migration (a progress bar).
    """
    sessions = context.sessions
    job = get_job(sessions, job_id)
    if job.is_done:
        return job
    key = lock_key(job.kind, job.subject)
    with job_lock(context.engine, key, lock_dir=context.settings.data_dir / "locks"):
        claimed = claim_job(sessions, job_id, now=clock())
        if claimed is None:
            return get_job(sessions, job_id)  # another runner finished it while we waited
        if claimed.attempts > 1:
            logger.warning("job %s (%s) resumed after its runner stopped", job_id, claimed.kind.value)
        try:
            if claimed.kind is JobKind.AGGREGATE:
                run_aggregation(sessions, claimed, clock=clock)
            else:
                run_migration(sessions, context.settings, claimed, clock=clock, on_object=on_object)
        except EucaimError as exc:
            _fail(sessions, job_id, str(exc), clock())
            logger.warning("job %s (%s) failed: %s", job_id, claimed.kind.value, type(exc).__name__)
        except Exception as exc:
            _fail(sessions, job_id, f"internal error: {type(exc).__name__}", clock())
            logger.exception("job %s (%s) failed", job_id, claimed.kind.value)
    ended = get_job(sessions, job_id)
    logger.info("job %s (%s): %s", job_id, ended.kind.value, ended.status.value)
    return ended


def _fail(sessions: sessionmaker[Session], job_id: str, message: str, now: datetime) -> None:
    with session_scope(sessions) as session:
        end_job(session, job_id, status=JobStatus.ERROR, message=message, now=now)
