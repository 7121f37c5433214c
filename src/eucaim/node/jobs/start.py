"""Start a node job the way this node runs jobs: in this process on SQLite, on the queue on PostgreSQL.

A caller that wants the outcome (the aggregate route, the portal) waits a bounded time; a job not
done by then keeps running, and its record says how far it got.
"""

from __future__ import annotations

from typing import Protocol

from eucaim.node.context import NodeContext
from eucaim.node.jobs.records import JobRecord, wait_for_job
from eucaim.node.jobs.run import run_node_job

# How long a request waits for a queued job before answering 202 with the job's record.
REQUEST_WAIT_S = 30.0


class QueuedJobs(Protocol):
    """What defers a node job to the queue (:class:`eucaim.node.jobs.queue.QueueJobRunner`)."""

    def submit_job(self, job: JobRecord) -> None:
        """Queue ``job``."""


def start_job(context: NodeContext, queue: QueuedJobs | None, job: JobRecord, *, wait_s: float) -> JobRecord:
    """Run ``job`` now (no queue: embedded SQLite) or queue it and wait up to ``wait_s``; return it."""
    if queue is None:
        return run_node_job(context, job.id)
    queue.submit_job(job)
    return wait_for_job(context.sessions, job.id, timeout_s=wait_s)
