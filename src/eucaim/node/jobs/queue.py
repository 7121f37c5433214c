"""The durable job queue on PostgreSQL: procrastinate tasks, the runner that defers them, its schema.

A job is only an id; its state is in the node's own tables (``dataset_jobs``), so any worker can
take it up. Two procrastinate guarantees carry the design:

- ``lock=dataset:<id>``: jobs of one dataset never run at the same time, on any host. So a job
  that finds its dataset's row ``running`` knows the runner that set it is dead, and resumes.
- worker heartbeats: a job whose worker stopped beating for ``jobs_stalled_after_s`` is put back
  in the queue by any live worker (:func:`requeue_stalled`).
"""

from __future__ import annotations

import logging
import threading

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from eucaim.node.db import session_scope
from eucaim.node.models_datasets import DatasetJob
from eucaim.node.services.dataset_jobs import run_creation_job

logger = logging.getLogger(__name__)

QUEUE = "eucaim-datasets"
# The queue's tables live in their own PostgreSQL schema: the node's migrations (and Alembic's
# comparison of models and database) see only the node's own tables in the default schema.
QUEUE_SCHEMA = "eucaim_queue"
_CONNECT_OPTIONS = {"options": f"-c search_path={QUEUE_SCHEMA}"}
CREATE_DATASET_TASK = "eucaim.node.create_dataset"
# Any fixed 64-bit number: serialises schema installation between workers starting together.
_SCHEMA_LOCK_KEY = 0x6575636169_6D


def conninfo(database_url: str) -> str:
    """Return the libpq connection string of a SQLAlchemy PostgreSQL URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_queue_schema(database_url: str) -> bool:
    """Install procrastinate's tables when absent; return True when this call installed them.

    Idempotent, and safe when several workers start at once (an advisory lock serialises them).
    """
    schema = procrastinate.App(connector=procrastinate.SyncPsycopgConnector()).schema_manager.get_schema()
    with psycopg.connect(
        conninfo(database_url), autocommit=False, options=_CONNECT_OPTIONS["options"]
    ) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA}")
        row = connection.execute(f"SELECT to_regclass('{QUEUE_SCHEMA}.procrastinate_jobs')").fetchone()
        if row is not None and row[0] is not None:
            return False
        connection.execute(schema.encode())  # bytes: no %-placeholder parsing of the DDL
        connection.commit()
    logger.info("installed the job queue schema (procrastinate)")
    return True


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


def build_queue_app(
    database_url: str, sessions: sessionmaker[Session], *, for_worker: bool
) -> procrastinate.App:
    """Return a procrastinate app with the node's tasks.

    ``for_worker`` picks the async connector a worker's event loop needs; request threads defer
    through the sync one.
    """
    info = conninfo(database_url)
    connector: procrastinate.BaseConnector = (
        procrastinate.PsycopgConnector(conninfo=info, min_size=1, max_size=4, kwargs=_CONNECT_OPTIONS)
        if for_worker
        else procrastinate.SyncPsycopgConnector(
            conninfo=info, min_size=1, max_size=4, kwargs=_CONNECT_OPTIONS
        )
    )
    app = procrastinate.App(connector=connector)

    @app.task(name=CREATE_DATASET_TASK, queue=QUEUE)
    def create_dataset(dataset_id: str) -> None:
        resume_interrupted(sessions, dataset_id)
        run_creation_job(sessions, dataset_id)

    return app


class QueueJobRunner:
    """The :class:`~eucaim.node.services.dataset_jobs.JobRunner` of PostgreSQL nodes: defers to the queue."""

    def __init__(self, database_url: str, sessions: sessionmaker[Session]) -> None:
        self._app = build_queue_app(database_url, sessions, for_worker=False)
        self._opened = False
        self._lock = threading.Lock()

    def submit(self, dataset_id: str) -> None:
        """Queue the creation job; a job of this dataset already waiting makes this a no-op."""
        with self._lock:
            if not self._opened:
                self._app.open()
                self._opened = True
        key = f"dataset:{dataset_id}"
        task = self._app.configure_task(CREATE_DATASET_TASK, lock=key, queueing_lock=key)
        try:
            task.defer(dataset_id=dataset_id)
        except AlreadyEnqueued:
            logger.info("dataset %s: creation job already queued", dataset_id)

    def close(self) -> None:
        """Release the connection pool."""
        with self._lock:
            if self._opened:
                self._app.close()
                self._opened = False
