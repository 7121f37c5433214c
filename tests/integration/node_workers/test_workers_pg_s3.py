"""Two ``eucaim-node serve`` workers sharing PostgreSQL and a SeaweedFS bucket, as behind a balancer.

Several clients push overlapping studies at once through both workers (each instance sent several
times, some SOPInstanceUIDs with other bytes): every instance is then stored exactly once, every
object matches its index row, and nothing failed except the refusals that are by design. A worker
killed (SIGKILL) in the middle of writing a large instance leaves no indexed half object, and a
resend through the other worker completes.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import parse_store_response
from eucaim.node.db import make_engine, make_session_factory, session_scope
from eucaim.node.migration import upgrade_database
from eucaim.node.models import Instance
from eucaim.node.roles import Role
from eucaim.node.services.accounts import create_user, issue_token
from eucaim.node.services.biobanks import create_biobank
from tests.support.node_server import deidentified_instance, stow_body
from tests.support.seaweedfs import SeaweedS3

NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]
MIB = 1024 * 1024


@dataclass
class Cluster:
    """Two workers on one database and one bucket."""

    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    token: str
    database_url: str
    bucket: str
    seaweedfs: SeaweedS3

    def stow_url(self, worker: int) -> str:
        return f"{self.urls[worker]}/biobanks/bb/dicom-web/studies"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def rows(self) -> dict[str, tuple[str, str]]:
        """Return SOPInstanceUID -> (storage key, sha256) of every index row."""
        engine = make_engine(self.database_url)
        try:
            with make_session_factory(engine)() as session:
                return {i.sop_instance_uid: (i.storage_key, i.sha256) for i in session.query(Instance)}
        finally:
            engine.dispose()

    def objects(self, prefix: str = "") -> dict[str, str]:
        """Return key (without the node's prefix) -> sha256 of every object in the bucket."""
        client = self.seaweedfs.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="node/"):
            for obj in page.get("Contents", []):
                if obj["Key"].startswith("node/.health/"):
                    continue
                body = client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                found[obj["Key"].removeprefix("node/")] = hashlib.sha256(body).hexdigest()
        return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"worker {url} did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_database: str, seaweedfs: SeaweedS3, s3_bucket: str
) -> Iterator[Cluster]:
    engine = make_engine(postgres_database)
    upgrade_database(engine)  # the operator's `eucaim-node db upgrade`, once, before the workers
    with session_scope(make_session_factory(engine)) as session:
        user = create_user(session, name="ing", role=Role.DATA_INGESTER)
        token = issue_token(session, user=user, now=datetime.now(UTC), ttl=timedelta(days=1))
        create_biobank(session, code="bb", name="Biobank", managers=["ing"])
    engine.dispose()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EUCAIM_NODE_", "AWS_"))}
    env = (
        base
        | seaweedfs.node_settings(s3_bucket, prefix="node")
        | {
            "EUCAIM_NODE_DATABASE_URL": postgres_database,
            # Parts of 5 MiB above 5 MiB: the large instance of the kill test goes up in parts.
            "EUCAIM_NODE_S3_MULTIPART_THRESHOLD": str(5 * MIB),
            "EUCAIM_NODE_S3_PART_SIZE": str(5 * MIB),
        }
    )
    processes, urls = [], []
    try:
        for n in range(2):
            port = _free_port()
            log = tmp_path / f"worker-{n}.log"
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [*NODE, "serve", "--data", str(tmp_path / f"worker-{n}"), "--port", str(port)],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process, n in zip(urls, processes, range(2), strict=True):
            _wait_healthy(url, process, tmp_path / f"worker-{n}.log")
        yield Cluster(urls, processes, token, postgres_database, s3_bucket, seaweedfs)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


def test_overlapping_pushes_through_two_workers_store_every_instance_once(
    cluster: Cluster, tmp_path: Path
) -> None:
    studies: list[list[Path]] = []
    for s in range(3):
        study, series = generate_uid(), generate_uid()
        files = [tmp_path / f"s{s}" / f"{n}.dcm" for n in range(8)]
        for n, path in enumerate(files):
            deidentified_instance(path, study_uid=study, series_uid=series, instance_number=n, pixel_seed=n)
        studies.append(files)
    # Two SOPInstanceUIDs also exist with other bytes (pixel_seed 99), sent by clients 2 and 3.
    clash: dict[str, Path] = {}
    for files in studies[:2]:
        ds = pydicom.dcmread(files[0])
        variant = files[0].with_name("variant.dcm")
        deidentified_instance(
            variant,
            study_uid=ds.StudyInstanceUID,
            series_uid=ds.SeriesInstanceUID,
            sop_uid=ds.SOPInstanceUID,
            pixel_seed=99,
        )
        clash[ds.SOPInstanceUID] = variant

    def client(number: int) -> list[tuple[int, dict[str, FailureReason]]]:
        rng = random.Random(number)
        results = []
        for s in rng.sample(range(3), 3):
            files = list(studies[s])
            if number >= 2:
                files = [
                    clash.get(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID, f) for f in files
                ]
            rng.shuffle(files)
            content_type, body = stow_body(files)
            response = httpx.post(
                cluster.stow_url((number + s) % 2),
                content=body,
                headers=cluster.auth | {"Content-Type": content_type},
                timeout=60,
            )
            parsed = parse_store_response(response.json())
            results.append(
                (response.status_code, {f.sop_instance_uid: f.failure_reason for f in parsed.failed})
            )
        return results

    with ThreadPoolExecutor(4) as pool:
        outcomes = [r for client_results in pool.map(client, range(4)) for r in client_results]

    rows = cluster.rows()
    assert len(rows) == 24  # every instance exactly once
    objects = cluster.objects()
    # Every object matches its row, and no other object is left in the bucket (losers cleaned up).
    assert objects == {key: sha for key, sha in rows.values()}
    # Nothing failed except by design: a refusal is always a clash instance refused as a duplicate.
    for status, failed in outcomes:
        assert status in (200, 202, 409)
        assert set(failed) <= set(clash)
        assert set(failed.values()) <= {FailureReason.DUPLICATE_SOP_INSTANCE}
    # Of each clash pair exactly one version is stored, and those that lost were told so.
    for sop, variant in clash.items():
        original = next(f for files in studies for f in files if pydicom.dcmread(f).SOPInstanceUID == sop)
        assert rows[sop][1] in {hashlib.sha256(p.read_bytes()).hexdigest() for p in (original, variant)}
        # Each version was sent by two clients: the two that sent the version not kept were refused.
        assert sum(1 for _, failed in outcomes if sop in failed) == 2
    assert sum(1 for status, _ in outcomes if status == 200) >= 6


def _large_instance(path: Path, megabytes: int) -> pydicom.Dataset:
    ds = deidentified_instance(path)
    side = int((megabytes * MIB / 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.PixelData = np.random.default_rng(1).integers(0, 4096, (side, side), dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return ds


def test_a_worker_killed_mid_stow_leaves_nothing_indexed_and_a_resend_completes(
    cluster: Cluster, tmp_path: Path
) -> None:
    big = tmp_path / "big.dcm"
    ds = _large_instance(big, 60)
    content_type, body = stow_body([big])
    s3 = cluster.seaweedfs.client()

    def send(worker: int) -> httpx.Response:
        headers = cluster.auth | {"Content-Type": content_type}
        return httpx.post(cluster.stow_url(worker), content=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(send, 0)
        deadline = time.monotonic() + 60
        while not s3.list_multipart_uploads(Bucket=cluster.bucket).get("Uploads"):
            assert not pending.done(), "the STOW finished before a part was written; make the instance larger"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        cluster.processes[0].send_signal(signal.SIGKILL)  # mid-put: parts written, object not complete
        with pytest.raises(httpx.TransportError):
            pending.result()

    assert ds.SOPInstanceUID not in cluster.rows()
    assert cluster.objects() == {}  # an unfinished multipart upload is no object

    resent = send(1)
    assert resent.status_code == 200
    key, sha = cluster.rows()[ds.SOPInstanceUID]
    assert sha == hashlib.sha256(big.read_bytes()).hexdigest()
    assert cluster.objects() == {key: sha}
    retrieved = httpx.get(
        f"{cluster.urls[1]}/biobanks/bb/dicom-web/studies/{ds.StudyInstanceUID}/series/"
        f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
        headers=cluster.auth,
        timeout=60,
    )
    assert retrieved.status_code == 200 and big.read_bytes() in retrieved.content
