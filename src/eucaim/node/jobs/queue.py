"""The durable job queue on PostgreSQL: procrastinate tasks and the runner that defers to them.

A queued job is only an id; its state is in the node's own tables (``dataset_jobs`` for dataset
creation, ``node_jobs`` for aggregation and store migration), so any worker can take it up. Two
procrastinate guarantees carry the design:

- ``lock=dataset:<id>`` (creation and aggregation of one dataset) and ``lock=store-migration:<pair>``:
  jobs under one lock never run at the same time, on any host. So a job that finds its row
  ``running`` knows the runner that set it is dead, and resumes.
- worker heartbeats: a job whose worker stopped beating for ``jobs_stalled_after_s`` is put back
  in the queue by any live worker (:func:`eucaim.node.jobs.worker.requeue_stalled`).
"""

from __future__ import annotations

import logging
import threading

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from eucaim.node.context import NodeContext
from eucaim.node.db import session_scope
from eucaim.node.jobs.locks import lock_key
from eucaim.node.jobs.records import JobRecord
from eucaim.node.jobs.run import run_node_job
from eucaim.node.jobs.schema import QUEUE_SCHEMA, SEARCH_PATH_OPTION, conninfo, ensure_queue_schema
from eucaim.node.models_datasets import DatasetJob
from eucaim.node.services.dataset_jobs import run_creation_job

__all__ = [
    "CREATE_DATASET_TASK",
    "QUEUE",
    "QUEUE_SCHEMA",
    "RUN_JOB_TASK",
    "QueueJobRunner",
    "build_queue_app",
    "conninfo",
    "ensure_queue_schema",
    "resume_interrupted",
]

logger = logging.getLogger(__name__)

QUEUE = "eucaim-datasets"  # the name predates the other jobs; kept so queued jobs survive upgrades
_CONNECT_OPTIONS = {"options": SEARCH_PATH_OPTION}
CREATE_DATASET_TASK = "eucaim.node.create_dataset"
RUN_JOB_TASK = "eucaim.node.run_job"


def resume_interrupted(sessions: sessionmaker[Session], dataset_id: str) -> bool:
    """Set a ``running`` creation job back to ``pending``; True when it was interrupted.

    Only called inside the dataset's queue lock, where no other runner of it can be alive.
    """
    with session_scope(sessions) as session:
        result = session.execute(
            update(DatasetJob)
            .where(DatasetJob.dataset_id == dataset_id, DatasetJob.status == "running")
            .values(status="pending", message="resumed after its worker stopped")
        )
        resumed = bool(result.rowcount == 1)  # type: ignore[attr-defined]
    if resumed:
        logger.warning("dataset %s: creation job resumed after its worker stopped", dataset_id)
    return resumed


def build_queue_app(context: NodeContext, *, for_worker: bool) -> procrastinate.App:
    """Return a procrastinate app with the node's tasks.

    ``for_worker`` picks the async connector a worker's event loop needs; request threads defer
    through the sync one.
    """
    info = conninfo(context.settings.resolved_database_url)
    connector: procrastinate.BaseConnector = (
        procrastinate.PsycopgConnector(conninfo=info, min_size=1, max_size=4, kwargs=_CONNECT_OPTIONS)
        if for_worker
        else procrastinate.SyncPsycopgConnector(
            conninfo=info, min_size=1, max_size=4, kwargs=_CONNECT_OPTIONS
        )
    )
    app = procrastinate.App(connector=connector)
    sessions = context.sessions

    @app.task(name=CREATE_DATASET_TASK, queue=QUEUE)
    def create_dataset(dataset_id: str) -> None:
        resume_interrupted(sessions, dataset_id)
        run_creation_job(sessions, dataset_id)

    @app.task(name=RUN_JOB_TASK, queue=QUEUE)
    def run_job(job_id: str) -> None:
        run_node_job(context, job_id)

    return app


class QueueJobRunner:
    """The job runner of PostgreSQL nodes: defers creation and other node jobs to the queue."""

    def __init__(self, context: NodeContext) -> None:
        self._app = build_queue_app(context, for_worker=False)
        self._opened = False
        self._lock = threading.Lock()

    def _open(self) -> None:
        with self._lock:
            if not self._opened:
                self._app.open()
                self._opened = True

    def submit(self, dataset_id: str) -> None:
        """Queue the creation job; a job of this dataset already waiting makes this a no-op."""
        self._open()
        key = f"dataset:{dataset_id}"
        task = self._app.configure_task(CREATE_DATASET_TASK, lock=key, queueing_lock=key)
        try:
            task.defer(dataset_id=dataset_id)
        except AlreadyEnqueued:
            logger.info("dataset %s: creation job already queued", dataset_id)

    def submit_job(self, job: JobRecord) -> None:
        """Queue a node job; one of this job already waiting makes this a no-op."""
        self._open()
        task = self._app.configure_task(
            RUN_JOB_TASK, lock=lock_key(job.kind, job.subject), queueing_lock=f"job:{job.id}"
        )
        try:
            task.defer(job_id=job.id)
        except AlreadyEnqueued:
            logger.info("job %s already queued", job.id)

    def close(self) -> None:
        """Release the connection pool."""
        with self._lock:
            if self._opened:
                self._app.close()
                self._opened = False
