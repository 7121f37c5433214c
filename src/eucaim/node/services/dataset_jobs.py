"""Dataset creation jobs: resolve the selection, freeze its series, aggregate, and mark the draft ready.

Jobs run behind :class:`JobRunner`; :class:`ThreadJobRunner` runs each in a background thread of
the node process. A durable queue (issue 9) replaces it without touching the job itself: the job
is :func:`run_creation_job`, idempotent from any point, with its state in the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import Conflict, EucaimError, PermissionDenied
from eucaim.node.db import session_scope
from eucaim.node.lifecycle import DatasetState, may_restart_creation
from eucaim.node.models import Series, Study
from eucaim.node.models_datasets import Dataset, DatasetJob, DatasetSeries
from eucaim.node.services import audit
from eucaim.node.services.dataset_facts import compute_aggregates
from eucaim.node.services.datasets import visible_dataset

logger = logging.getLogger(__name__)

BATCH = 500


class SelectionError(EucaimError):
    """The selection names things the biobank does not hold, or nothing at all."""


class JobRunner(Protocol):
    """Something that runs a dataset's creation job eventually, exactly once to completion."""

    def submit(self, dataset_id: str) -> None:
        """Queue the creation job of ``dataset_id``."""


class ThreadJobRunner:
    """Runs each job in a daemon thread of this process (lost if the process dies mid-job)."""

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._sessions = sessions
        self._clock = clock or (lambda: datetime.now(UTC))

    def submit(self, dataset_id: str) -> None:
        thread = threading.Thread(
            target=run_creation_job,
            args=(self._sessions, dataset_id),
            kwargs={"clock": self._clock},
            name=f"dataset-{dataset_id[:8]}",
            daemon=True,
        )
        thread.start()


def _set_job(sessions: sessionmaker[Session], dataset_id: str, **values: object) -> None:
    with session_scope(sessions) as session:
        session.execute(update(DatasetJob).where(DatasetJob.dataset_id == dataset_id).values(**values))


def claim_job(sessions: sessionmaker[Session], dataset_id: str, *, now: datetime) -> bool:
    """Move a pending job to running; False when another runner took it first (or it is not pending).

    The conditional UPDATE is the claim, so a job submitted twice, or seen by two workers, runs once.
    """
    with session_scope(sessions) as session:
        result = session.execute(
            update(DatasetJob)
            .where(DatasetJob.dataset_id == dataset_id, DatasetJob.status == "pending")
            .values(status="running", started_at=now, progress=0.0, message="resolving selection")
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def restart_job(session: Session, *, dataset_id: str, user_id: int, now: datetime) -> None:
    """Set a failed creation job back to pending (the caller then submits it to the runner).

    Raises:
        PermissionDenied: the caller is not the dataset's holder (author and manager) or an admin.
        Conflict: the job has not failed (it is pending, running or finished).
    """
    dataset, user, actor = visible_dataset(session, dataset_id, user_id)
    job = session.get(DatasetJob, dataset_id)
    status = job.status if job else None
    if not may_restart_creation(DatasetState(dataset.state), status, actor):
        if not may_restart_creation(DatasetState.CREATING, "error", actor):
            raise PermissionDenied(f"user {user.name!r} may not restart the creation of dataset {dataset_id}")
        raise Conflict(
            f"the creation job of dataset {dataset_id} is {status}, not failed; nothing to restart"
        )
    result = session.execute(
        update(DatasetJob)
        .where(DatasetJob.dataset_id == dataset_id, DatasetJob.status == "error")
        .values(status="pending", progress=0.0, message="queued again", started_at=None, finished_at=None)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"the creation job of dataset {dataset_id} was restarted by someone else just now")
    audit.append(session, actor=user.name, action="restart", dataset_id=dataset_id, details={}, now=now)


def resolve_selection(session: Session, dataset: Dataset) -> list[int]:
    """Return the ids of the series the dataset's selection covers in its biobank.

    Raises:
        SelectionError: some listed subjects, studies or series are not in the biobank, or none match.
    """
    kind = dataset.selection["kind"]
    ids: list[str] = dataset.selection.get("ids") or []
    query = (
        select(Series.id)
        .join(Study, Study.id == Series.study_id)
        .where(Study.biobank_id == dataset.biobank_id)
    )
    column = {
        "subjects": Study.patient_id,
        "studies": Study.study_instance_uid,
        "series": Series.series_instance_uid,
    }
    found: set[str] = set()
    series_ids: list[int] = []
    if kind == "biobank":
        series_ids = list(session.scalars(query.order_by(Series.id)))
    else:
        col = column[kind]
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            for series_id, key in session.execute(query.add_columns(col).where(col.in_(chunk))):
                series_ids.append(series_id)
                found.add(key)
    missing = [i for i in ids if i not in found]
    if missing:
        raise SelectionError(
            f"{len(missing)} of the {len(ids)} selected {kind} are not in this biobank "
            f"(first: {', '.join(missing[:3])})",
            hint="upload them first, or leave them out of the selection",
        )
    if not series_ids:
        raise SelectionError("the selection matches no series", hint="upload images to the biobank first")
    return sorted(set(series_ids))


def run_creation_job(
    sessions: sessionmaker[Session], dataset_id: str, *, clock: Callable[[], datetime] | None = None
) -> None:
    """Run the pending creation job of a dataset; errors end in the job's status, never raised."""
    now = clock or (lambda: datetime.now(UTC))
    if not claim_job(sessions, dataset_id, now=now()):
        return
    try:
        with session_scope(sessions) as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is None or dataset.state != DatasetState.CREATING.value:
                return
            series_ids = resolve_selection(session, dataset)
        _set_job(
            sessions, dataset_id, series_total=len(series_ids), message=f"freezing {len(series_ids)} series"
        )
        with session_scope(sessions) as session:
            # A restarted job starts over, so one interrupted half-way never leaves a partial list.
            session.execute(delete(DatasetSeries).where(DatasetSeries.dataset_id == dataset_id))
            for start in range(0, len(series_ids), BATCH):
                chunk = series_ids[start : start + BATCH]
                session.execute(
                    insert(DatasetSeries), [{"dataset_id": dataset_id, "series_id": s} for s in chunk]
                )
        _set_job(sessions, dataset_id, progress=0.5, message="computing aggregates")
        with session_scope(sessions) as session:
            dataset = session.get(Dataset, dataset_id)
            assert dataset is not None
            aggregates = compute_aggregates(session, dataset_id=dataset_id, biobank_id=dataset.biobank_id)
            at = now()
            result = session.execute(
                update(Dataset)
                .where(Dataset.id == dataset_id, Dataset.state == DatasetState.CREATING.value)
                .values(
                    state=DatasetState.DRAFT.value,
                    aggregates=aggregates,
                    aggregated_at=at,
                    updated_at=at,
                    row_version=Dataset.row_version + 1,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                audit.append(
                    session,
                    actor="node",
                    action="ready",
                    dataset_id=dataset_id,
                    details={"series": len(series_ids)},
                    now=at,
                )
        _set_job(
            sessions,
            dataset_id,
            status="finished",
            progress=1.0,
            finished_at=now(),
            message=f"{len(series_ids)} series frozen, aggregates computed",
        )
        logger.info("dataset %s ready with %d series", dataset_id, len(series_ids))
    except EucaimError as exc:
        _set_job(sessions, dataset_id, status="error", finished_at=now(), message=str(exc)[:1000])
        logger.warning("dataset %s creation failed: %s", dataset_id, type(exc).__name__)
    except Exception as exc:
        _set_job(
            sessions,
            dataset_id,
            status="error",
            finished_at=now(),
            message=f"internal error: {type(exc).__name__}",
        )
        logger.exception("dataset %s creation failed", dataset_id)
