"""The aggregation job: recompute a dataset's aggregates from its frozen series, as a durable job.

Asking checks the caller's right at once (:func:`request_aggregation`); the job then runs on
whichever runner takes it (:func:`run_aggregation`). Running it again gives the same aggregates,
since the series are frozen and the computation (eucaim.catalogue.aggregation) is exact; the new
aggregates, the audit entry and the job's end are one transaction, so a runner killed at any point
leaves either all of them or none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import Conflict, NotFound
from eucaim.node.db import session_scope
from eucaim.node.jobs.models import JobKind, JobStatus
from eucaim.node.jobs.records import JobRecord, end_job, request_job, save_progress
from eucaim.node.lifecycle import Action, DatasetState, may, next_state
from eucaim.node.models_datasets import Dataset
from eucaim.node.services import audit
from eucaim.node.services.dataset_facts import compute_aggregates
from eucaim.node.services.datasets import visible_dataset

# The states lifecycle.may allows Action.AGGREGATE in, checked again when the job runs.
_AGGREGATABLE = (DatasetState.DRAFT, DatasetState.RELEASED, DatasetState.PUBLISHED)


def request_aggregation(
    sessions: sessionmaker[Session], *, dataset_id: str, user_id: int, now: datetime
) -> JobRecord:
    """Return the aggregation job of a dataset (the one under way, or a new one).

    Raises:
        NotFound: no such dataset.
        PermissionDenied: the caller may not see the dataset, or may not recompute its aggregates.
        Conflict: the dataset is in a state without aggregates to recompute (creating, invalidated).
    """
    with session_scope(sessions) as session:
        dataset, user, actor = visible_dataset(session, dataset_id, user_id)
        state = DatasetState(dataset.state)
        if not may(Action.AGGREGATE, state, actor):
            next_state(Action.AGGREGATE, state, actor)  # raises the right error
        name = user.name
    job, _ = request_job(sessions, kind=JobKind.AGGREGATE, subject=dataset_id, requested_by=name, now=now)
    return job


def run_aggregation(
    sessions: sessionmaker[Session], job: JobRecord, *, clock: Callable[[], datetime]
) -> None:
    """Compute and store the aggregates of ``job``'s dataset and end the job, in one transaction.

    Raises:
        NotFound: the dataset was deleted meanwhile.
        Conflict: the dataset left the states that have aggregates, or changed while computing.
    """
    dataset_id = job.subject
    save_progress(sessions, job.id, progress=0.1, message="computing aggregates")
    with session_scope(sessions) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {dataset_id} no longer exists")
        state = DatasetState(dataset.state)
        if state not in _AGGREGATABLE:
            raise Conflict(
                f"dataset {dataset_id} is {state.value}; only draft, released and published datasets "
                "have aggregates to recompute"
            )
        aggregates = compute_aggregates(session, dataset_id=dataset_id, biobank_id=dataset.biobank_id)
        at = clock()
        result = session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, Dataset.state == state.value)
            .values(
                aggregates=aggregates, aggregated_at=at, updated_at=at, row_version=Dataset.row_version + 1
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"dataset {dataset_id} changed state while its aggregates were computed")
        audit.append(
            session,
            actor=job.requested_by,
            action="aggregate",
            dataset_id=dataset_id,
            details={"job": job.id},
            now=at,
        )
        end_job(session, job.id, status=JobStatus.FINISHED, message="aggregates computed", now=at)
