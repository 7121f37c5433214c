"""A dataset creation job on PostgreSQL survives its worker: killed mid-job, another worker finishes it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine

from eucaim.node.db import make_session_factory, session_scope
from eucaim.node.jobs.queue import conninfo
from eucaim.node.migration import upgrade_database
from eucaim.node.roles import Role
from eucaim.node.services.accounts import create_user, issue_token
from eucaim.node.services.biobanks import create_biobank
from tests.support.node_server import deidentified_instance, stow_body

STALLED_AFTER_S = 2


@dataclass
class Worker:
    """An ``eucaim-node serve`` process."""

    process: subprocess.Popen[bytes]
    url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(check: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def _worker(database_url: str, data: Path, *options: str) -> Iterator[Worker]:
    port = _free_port()
    env = {
        **os.environ,
        "EUCAIM_NODE_DATABASE_URL": database_url,
        "EUCAIM_NODE_JOBS_STALLED_AFTER_S": str(STALLED_AFTER_S),
        "EUCAIM_NODE_CONFIG": "",
    }
    log = (data.parent / f"{data.name}.log").open("wb")
    command = [str(Path(sys.executable).parent / "eucaim-node"), "serve", "--data", str(data)]
    process = subprocess.Popen([*command, "--port", str(port), *options], env=env, stdout=log, stderr=log)
    worker = Worker(process, f"http://127.0.0.1:{port}")

    def ready() -> bool:
        assert process.poll() is None, f"worker exited; see {log.name}"
        try:
            return httpx.get(f"{worker.url}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_for(ready, "the worker to be ready", 30)
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _seed(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        upgrade_database(engine)
        with session_scope(make_session_factory(engine)) as session:
            user = create_user(session, name="holder", role=Role.DATA_INGESTER)
            token = issue_token(session, user=user, now=datetime.now(UTC), ttl=timedelta(days=1))
            create_biobank(session, code="bb1", name="Biobank 1", managers=["holder"])
        return token
    finally:
        engine.dispose()


def _job(worker: Worker, token: str, dataset_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{worker.url}/datasets/{dataset_id}/job", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


@pytest.mark.timeout(120)
def test_a_job_whose_worker_is_killed_mid_job_is_finished_by_another(
    postgres_database: str, tmp_path: Path
) -> None:
    token = _seed(postgres_database)
    auth = {"Authorization": f"Bearer {token}"}
    files = [tmp_path / f"{i}.dcm" for i in range(3)]
    for i, path in enumerate(files):
        deidentified_instance(path, patient_id=f"EUCAIM-{i:04d}")
    # Holding this lock stops any job at its first write of the series list: mid-job, on demand.
    blocker = psycopg.connect(conninfo(postgres_database))
    try:
        with _worker(postgres_database, tmp_path / "worker-a") as first:
            content_type, body = stow_body(list(files))
            stored = httpx.post(
                f"{first.url}/biobanks/bb1/dicom-web/studies",
                content=body,
                headers={**auth, "Content-Type": content_type},
                timeout=30,
            )
            assert stored.status_code == 200, stored.text
            blocker.execute("LOCK TABLE dataset_series IN SHARE MODE")
            created = httpx.post(
                f"{first.url}/datasets",
                json={"name": "resume me", "biobank": "bb1"},
                headers=auth,
                timeout=30,
            )
            assert created.status_code == 202, created.text
            dataset_id = created.json()["id"]
            # "resolving selection" comes first and is quick; the lock holds the job at "freezing".
            running = _wait_for(
                lambda: (
                    (job := _job(first, token, dataset_id))["status"] == "running"
                    and job["message"].startswith("freezing")
                    and job
                ),
                "the job to reach the frozen series list",
                30,
            )
            assert running["status"] == "running"
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        blocker.rollback()  # the dead worker's transaction goes; nothing blocks the next one

        with _worker(postgres_database, tmp_path / "worker-b", "--json-logs") as second:
            finished = _wait_for(
                lambda: (job := _job(second, token, dataset_id))["status"] in {"finished", "error"} and job,
                "another worker to finish the job",
                45,
            )
            assert finished["status"] == "finished", finished
            assert finished["message"] == "3 series frozen, aggregates computed"
            dataset = httpx.get(f"{second.url}/datasets/{dataset_id}", headers=auth, timeout=5).json()
            assert dataset["state"] == "draft"
        with blocker.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM dataset_series WHERE dataset_id = %s", (dataset_id,))
            assert cursor.fetchone() == (3,)  # the interrupted half-write left no duplicate or gap
    finally:
        blocker.close()
    # Log lines are JSON; the one line serve prints for people ("serving ... on ...") is not a log line.
    text = (tmp_path / "worker-b.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("requeued job") for line in lines)
    access = [line for line in lines if line["logger"] == "eucaim.node.access"]
    assert access and all(len(line["request_id"]) == 32 for line in access)
    assert token not in text  # tokens never reach a log
