"""/metrics counts every kind of node job by status: dataset creation, aggregation, store migration.

A real node (SQLite, or PostgreSQL with its queue under EUCAIM_TEST_NODE_DATABASE=postgresql): a
dataset is created and its statistics recomputed over HTTP, a store migration is asked for the way
``eucaim-node store migrate --queue`` asks; the scrape then shows each job under its kind.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

from eucaim.node.jobs.models import JobKind
from eucaim.node.jobs.records import request_job
from tests.integration.node_ops.test_ops_metrics_logs import _metric
from tests.support.node_server import SeededNode, deidentified_instance, stow_body


def _scrape(seeded: SeededNode) -> str:
    response = httpx.get(f"{seeded.url}/metrics", headers={"Authorization": f"Bearer {seeded.admin_token}"})
    assert response.status_code == 200
    return response.text


def test_metrics_count_creation_aggregation_and_migration_jobs_by_kind_and_status(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    before = _scrape(seeded_node)
    for kind in ("dataset-creation", "aggregate", "store-migration"):
        for status in ("pending", "running", "finished", "error"):
            assert f'eucaim_node_jobs{{kind="{kind}",status="{status}"}} 0.0' in before

    files = [tmp_path / f"{n}.dcm" for n in range(2)]
    study = generate_uid()
    for n, path in enumerate(files):
        deidentified_instance(path, study_uid=study, instance_number=n, patient_id=f"EUCAIM-{n:04d}")
    content_type, body = stow_body(files)
    auth = {"Authorization": f"Bearer {seeded_node.ingester_token}"}
    with httpx.Client(base_url=seeded_node.url, headers=auth, timeout=60) as client:
        stored = client.post(
            f"/biobanks/{seeded_node.biobank}/dicom-web/studies",
            content=body,
            headers={"Content-Type": content_type},
        )
        assert stored.status_code == 200, stored.text
        created = client.post("/datasets", json={"name": "metrics", "biobank": seeded_node.biobank})
        assert created.status_code == 202, created.text
        dataset_id = created.json()["id"]
        deadline = time.monotonic() + 30
        while client.get(f"/datasets/{dataset_id}/job").json()["status"] != "finished":
            assert time.monotonic() < deadline, "dataset creation job did not finish"
            time.sleep(0.05)
        aggregated = client.post(f"/datasets/{dataset_id}/aggregate")
        assert aggregated.status_code == 200, aggregated.text
    # What `eucaim-node store migrate --queue` records before a worker takes the job.
    request_job(
        seeded_node.node.context.sessions,
        kind=JobKind.STORE_MIGRATION,
        subject="filesystem-to-s3",
        requested_by="operator",
        now=datetime.now(UTC),
    )

    after = _scrape(seeded_node)
    assert _metric(after, "eucaim_node_jobs", kind="dataset-creation", status="finished") == 1
    assert _metric(after, "eucaim_node_jobs", kind="aggregate", status="finished") == 1
    assert _metric(after, "eucaim_node_jobs", kind="store-migration", status="pending") == 1
    assert _metric(after, "eucaim_node_jobs", kind="store-migration", status="finished") == 0
    assert 'eucaim_node_jobs{kind="aggregate",status="error"} 0.0' in after
    # The older per-status gauge of creation jobs stays for existing dashboards.
    assert _metric(after, "eucaim_node_dataset_jobs", status="finished") == 1
