"""Aggregation and store migration are durable jobs on PostgreSQL: a worker killed mid-job is replaced.

Real processes throughout: ``eucaim-node db upgrade`` (which installs the queue), ``serve --no-jobs``
for HTTP, ``eucaim-node worker`` processes for the jobs, killed with SIGKILL at a point the test
holds them at (a PostgreSQL lock the job waits on), and a second worker that must finish the job:
the same aggregates as a fresh computation, every object in the target store exactly once with the
bytes its index row names, nothing indexed without its bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import create_engine

from eucaim.node.db import make_session_factory, session_scope
from eucaim.node.jobs.schema import conninfo
from eucaim.node.models import Instance
from eucaim.node.roles import Role
from eucaim.node.services.accounts import create_user, issue_token
from eucaim.node.services.biobanks import create_biobank
from eucaim.node.services.dataset_facts import compute_aggregates
from tests.integration.node_jobs.processes import node_env, run_node, serving, wait_for, working
from tests.support.node_server import deidentified_instance, stow_body
from tests.support.seaweedfs import SeaweedS3

pytestmark = pytest.mark.timeout(240)


def _seed(database_url: str) -> tuple[str, str]:
    """Create a data holder with biobank ``bb`` and an outsider; return their tokens."""
    engine = create_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            now, ttl = datetime.now(UTC), timedelta(days=1)
            holder = create_user(session, name="holder", role=Role.DATA_INGESTER)
            outsider = create_user(session, name="outsider", role=Role.DATA_INGESTER)
            tokens = (
                issue_token(session, user=holder, now=now, ttl=ttl),
                issue_token(session, user=outsider, now=now, ttl=ttl),
            )
            create_biobank(session, code="bb", name="Biobank", managers=["holder"])
        return tokens
    finally:
        engine.dispose()


def _upgrade(env: dict[str, str]) -> None:
    upgraded = run_node("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "job queue schema installed" in upgraded.stdout


def _stow(url: str, token: str, files: list[Path]) -> None:
    content_type, body = stow_body(list(files))
    response = httpx.post(
        f"{url}/biobanks/bb/dicom-web/studies",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=120,
    )
    assert response.status_code == 200, response.text


def _instances(tmp_path: Path, count: int, *, subjects: int = 1) -> list[Path]:
    study, series = generate_uid(), generate_uid()
    files = []
    for n in range(count):
        path = tmp_path / "in" / f"{n}.dcm"
        subject = n % subjects
        deidentified_instance(
            path,
            study_uid=study if subjects == 1 else generate_uid(),
            series_uid=series if subjects == 1 else generate_uid(),
            patient_id=f"EUCAIM-{subject:04d}",
            instance_number=n,
            pixel_seed=n,
        )
        files.append(path)
    return files


def _waiting_on_a_lock(blocker: psycopg.Connection[Any]) -> bool:
    """Return True when another session of this database waits for a lock (the held job)."""
    # Activity statistics are a snapshot taken once per transaction; the blocker's stays open.
    blocker.execute("SELECT pg_stat_clear_snapshot()")
    row = blocker.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchone()
    return row is not None and row[0] > 0


def test_an_aggregation_whose_worker_is_killed_is_finished_by_another(
    postgres_database: str, tmp_path: Path
) -> None:
    env = node_env(postgres_database, EUCAIM_NODE_STORE_DIR=str(tmp_path / "store"))
    _upgrade(env)
    token, outsider = _seed(postgres_database)
    auth = {"Authorization": f"Bearer {token}"}
    blocker = psycopg.connect(conninfo(postgres_database))
    try:
        with serving(tmp_path / "web", env, "--no-jobs") as web:
            _stow(web.url, token, _instances(tmp_path, 4, subjects=3))
            created = httpx.post(
                f"{web.url}/datasets", json={"name": "agg", "biobank": "bb"}, headers=auth, timeout=30
            )
            assert created.status_code == 202, created.text
            dataset_id = created.json()["id"]

            def creation() -> dict[str, Any]:
                job: dict[str, Any] = httpx.get(
                    f"{web.url}/datasets/{dataset_id}/job", headers=auth, timeout=10
                ).json()
                return job

            # serve --no-jobs queues jobs but runs none.
            with pytest.raises(AssertionError, match="timed out"):
                wait_for(lambda: creation()["status"] != "pending", "the creation job to start", 3)

            with working(tmp_path / "worker-a", env) as first:
                wait_for(lambda: creation()["status"] == "finished", "the creation job", 60)
                created_aggregates = httpx.get(
                    f"{web.url}/datasets/{dataset_id}", headers=auth, timeout=10
                ).json()["aggregates"]
                blocker.execute("UPDATE datasets SET aggregates = NULL WHERE id = %s", (dataset_id,))
                blocker.commit()
                # Held here: the job computes, then waits to write the dataset's row; mid-job, on demand.
                blocker.execute("LOCK TABLE datasets IN SHARE MODE")
                queued = httpx.post(
                    f"{web.url}/datasets/{dataset_id}/aggregate",
                    headers=auth | {"Prefer": "respond-async"},
                    timeout=30,
                )
                assert queued.status_code == 202, queued.text
                job_url = f"{web.url}{queued.headers['Location']}"
                job_id = queued.json()["id"]
                assert queued.json()["kind"] == "aggregate" and queued.json()["dataset"] == dataset_id
                wait_for(lambda: _waiting_on_a_lock(blocker), "the job to reach the dataset's row", 60)
                running = httpx.get(job_url, headers=auth, timeout=10).json()
                assert running["status"] == "running" and running["message"] == "computing aggregates"
                first.kill()
            blocker.rollback()  # the dead worker's transaction goes with it: nothing was written

            with working(tmp_path / "worker-b", env) as second:
                finished = wait_for(
                    lambda: (
                        (job := httpx.get(job_url, headers=auth, timeout=10).json())["status"]
                        in {"finished", "error"}
                        and job
                    ),
                    "another worker to finish the aggregation",
                    60,
                )
                assert finished["status"] == "finished", finished
                assert finished["attempts"] == 2  # the dead worker's attempt, then this one
                dataset = httpx.get(f"{web.url}/datasets/{dataset_id}", headers=auth, timeout=10).json()
                # Asking again while nothing changed gives the same figures (the job is idempotent).
                again = httpx.post(f"{web.url}/datasets/{dataset_id}/aggregate", headers=auth, timeout=60)
                refused = httpx.get(job_url, headers={"Authorization": f"Bearer {outsider}"}, timeout=10)
            assert (
                "requeued job" in second.log_text()
                and "resumed after its runner stopped" in second.log_text()
            )
        assert again.status_code == 200 and again.json()["aggregates"] == dataset["aggregates"]
        assert refused.status_code == 403
        engine = create_engine(postgres_database)
        try:
            with make_session_factory(engine)() as session:
                expected = compute_aggregates(session, dataset_id=dataset_id, biobank_id=1)
        finally:
            engine.dispose()
        assert dataset["aggregates"] == expected == created_aggregates
        assert expected["subjects"] == 3 and expected["instances"] == 4
        entries = blocker.execute(
            "SELECT details FROM audit_log WHERE dataset_id = %s AND action = 'aggregate' ORDER BY id",
            (dataset_id,),
        ).fetchall()
        # One entry per finished job: the killed attempt wrote none (all or nothing).
        jobs = [json.loads(d)["job"] for (d,) in entries]
        assert len(jobs) == 2 and jobs[0] == job_id and jobs[1] != job_id
    finally:
        blocker.close()


COUNT = 120


def _bucket(seaweedfs: SeaweedS3, bucket: str) -> dict[str, str]:
    client = seaweedfs.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            if obj["Key"].startswith(".health/"):
                continue
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            found[obj["Key"]] = hashlib.sha256(body).hexdigest()
    return found


def _state(blocker: psycopg.Connection[Any], job_id: str) -> tuple[str, int, dict[str, Any]]:
    row = blocker.execute("SELECT status, attempts, state FROM node_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    state = row[2] if isinstance(row[2], dict) else json.loads(row[2])
    return row[0], row[1], state


def test_a_store_migration_whose_worker_is_killed_resumes_where_it_stopped(
    postgres_database: str, seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    s3 = {k: v for k, v in seaweedfs.node_settings(s3_bucket).items() if k != "EUCAIM_NODE_STORE"}
    env = node_env(
        postgres_database,
        EUCAIM_NODE_STORE="filesystem",
        EUCAIM_NODE_STORE_DIR=str(tmp_path / "shared-store"),  # as an NFS folder all hosts mount
        **s3,
    )
    _upgrade(env)
    token, _ = _seed(postgres_database)
    with serving(tmp_path / "web", env, "--no-jobs") as web:
        _stow(web.url, token, _instances(tmp_path, COUNT))
    engine = create_engine(postgres_database)
    try:
        with make_session_factory(engine)() as session:
            indexed = {row.storage_key: row.sha256 for row in session.query(Instance)}
    finally:
        engine.dispose()
    assert len(indexed) == COUNT

    queued = run_node(
        "store", "migrate", "--from", "fs", "--to", "s3", "--queue", "--data", str(tmp_path / "cli"), env=env
    )
    assert queued.returncode == 0, queued.stderr
    found = re.search(r"migration job (\S+) queued", queued.stdout)
    assert found, queued.stdout
    job_id = found[1]
    assert _bucket(seaweedfs, s3_bucket) == {}  # queued, not run by the command

    blocker = psycopg.connect(conninfo(postgres_database))
    try:
        with working(tmp_path / "worker-a", env) as first:
            wait_for(
                lambda: _state(blocker, job_id)[2].get("copied", 0) >= 5, "five objects copied", 60, 0.005
            )
            blocker.commit()
            # Held here: the worker copies its current object, then waits to record it; mid-job.
            blocker.execute("SELECT 1 FROM node_jobs WHERE id = %s FOR UPDATE", (job_id,))
            wait_for(lambda: _waiting_on_a_lock(blocker), "the worker to wait on its progress record", 60)
            status, _, at_kill = _state(blocker, job_id)
            first.kill()
        blocker.rollback()
        assert status == "running" and 5 <= at_kill["copied"] < COUNT, at_kill

        with working(tmp_path / "worker-b", env) as second:
            wait_for(lambda: _state(blocker, job_id)[0] in {"finished", "error"}, "the migration to end", 120)
            blocker.commit()
            status, attempts, state = _state(blocker, job_id)
            assert second.stop() == 0  # SIGTERM: a clean stop
        assert "requeued job" in second.log_text() and "eucaim-node worker stopped" in second.log_text()
    finally:
        blocker.close()
    assert (status, attempts) == ("finished", 2), state
    # The object copied just before the kill, never recorded, is found in the target and verified.
    assert state["copied"] + state["present"] == COUNT and state["present"] == 1 and not state["failed"]
    assert _bucket(seaweedfs, s3_bucket) == indexed  # every indexed object, its row's bytes, nothing else

    shown = run_node("job", "show", job_id, "--data", str(tmp_path / "cli"), env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["objects"]["failed"] == 0
    # From a terminal, a run after the finished job copies nothing again and says it is complete.
    again = run_node(
        "store", "migrate", "--from", "fs", "--to", "s3", "--data", str(tmp_path / "cli"), env=env
    )
    assert again.returncode == 0, again.stderr
    assert f"{state['copied']} object(s) copied" in again.stdout and "0 failed" in again.stdout
    assert "migration complete" in again.stdout
    # --restart forgets the progress: every object is verified in the target, none written again.
    restarted = run_node(
        "store",
        "migrate",
        "--from",
        "fs",
        "--to",
        "s3",
        "--restart",
        "--data",
        str(tmp_path / "cli"),
        env=env,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert f"0 object(s) copied (0 bytes), {COUNT} already in s3, 0 failed" in restarted.stdout
    assert _bucket(seaweedfs, s3_bucket) == indexed
    assert s3["EUCAIM_NODE_S3_SECRET_ACCESS_KEY"] not in again.stdout + again.stderr + shown.stdout
