"""Creation jobs: a job submitted twice runs once; a job's failure is reported, not raised."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from eucaim.node.db import session_scope
from eucaim.node.models import User
from eucaim.node.models_datasets import AuditEntry, Dataset, DatasetJob, DatasetSeries
from eucaim.node.services.dataset_jobs import run_creation_job
from eucaim.node.services.datasets import create_dataset
from tests.integration.datasets.conftest import StudySpec, upload
from tests.support.node_server import SeededNode


def _new_dataset(seeded: SeededNode, selection: dict) -> str:
    with session_scope(seeded.node.context.sessions) as session:
        user_id = session.scalar(select(User.id).where(User.name == "ingester"))
        assert user_id is not None
        dataset = create_dataset(
            session,
            user_id=user_id,
            biobank_code="test-bb",
            name="job test",
            description="",
            selection=selection,
            properties={},
            now=datetime.now(UTC),
        )
        return dataset.id


def test_a_job_run_by_two_workers_at_once_runs_once(both_db_node: SeededNode, tmp_path: Path) -> None:
    upload(both_db_node, tmp_path, [StudySpec("J1", series=(("CT", "CHEST", "GE", 1),) * 3)])
    dataset_id = _new_dataset(both_db_node, {"kind": "biobank", "ids": []})
    sessions = both_db_node.node.context.sessions
    barrier = threading.Barrier(2)

    def run(_n: int) -> None:
        barrier.wait()
        run_creation_job(sessions, dataset_id)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, range(2)))
    with session_scope(sessions) as session:
        assert session.get(Dataset, dataset_id).state == "draft"  # type: ignore[union-attr]
        job = session.get(DatasetJob, dataset_id)
        assert job is not None and (job.status, job.progress) == ("finished", 1.0)
        frozen = session.scalars(select(DatasetSeries).where(DatasetSeries.dataset_id == dataset_id)).all()
        assert len(frozen) == 3
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.dataset_id == dataset_id)).all()
        assert list(actions) == ["create", "ready"]
    run_creation_job(sessions, dataset_id)  # a late re-submission changes nothing
    with session_scope(sessions) as session:
        assert session.get(DatasetJob, dataset_id).status == "finished"  # type: ignore[union-attr]


def test_an_empty_biobank_ends_the_job_in_error(seeded_node: SeededNode) -> None:
    dataset_id = _new_dataset(seeded_node, {"kind": "biobank", "ids": []})
    run_creation_job(seeded_node.node.context.sessions, dataset_id)
    with session_scope(seeded_node.node.context.sessions) as session:
        job = session.get(DatasetJob, dataset_id)
        assert job is not None and job.status == "error"
        assert job.message == "the selection matches no series (upload images to the biobank first)"
        assert session.get(Dataset, dataset_id).state == "creating"  # type: ignore[union-attr]
