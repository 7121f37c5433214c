"""Readiness on the S3 and PACS stores: when the store fails, /health/ready answers 503.

The filesystem store's case (its folder replaced by a file) is
tests/integration/node_ops/test_ops_metrics_logs.py::test_readiness_fails_when_the_store_is_unreachable,
which looks into the folder and so runs on the filesystem store only.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from eucaim.node.store.config import DicomwebStoreSettings, S3StoreSettings
from tests.support.fault_proxy import FaultProxy, Faults
from tests.support.node_server import RunningNode, running_node
from tests.support.orthanc import OrthancServer
from tests.support.seaweedfs import SeaweedS3


def _assert_not_ready(node: RunningNode) -> None:
    response = httpx.get(f"{node.url}/health/ready", timeout=60)
    assert response.status_code == 503, response.text
    body = response.json()
    assert (body["status"], body["database"]) == ("not ready", "ok")
    assert body["store"].startswith("failing")


def test_readiness_fails_when_the_bucket_is_gone(seaweedfs: SeaweedS3, tmp_path: Path) -> None:
    bucket = seaweedfs.create_bucket()
    s3 = S3StoreSettings(
        endpoint_url=seaweedfs.endpoint_url,
        bucket=bucket,
        access_key_id=seaweedfs.access_key,  # type: ignore[arg-type]
        secret_access_key=seaweedfs.secret_key,  # type: ignore[arg-type]
    )
    with running_node(tmp_path / "node", store="s3", s3=s3) as node:
        assert httpx.get(f"{node.url}/health/ready").json()["status"] == "ready"
        seaweedfs.client().delete_bucket(Bucket=bucket)  # the operator's bucket was removed
        _assert_not_ready(node)


def test_readiness_fails_when_the_pacs_fails(orthanc: OrthancServer, tmp_path: Path) -> None:
    # The PACS behind a proxy that, on cue, answers every request with 503 (overloaded, in upkeep).
    with FaultProxy(orthanc.http_url, Faults(error_statuses=(503,))) as proxy:
        pacs = DicomwebStoreSettings(
            url=f"{proxy.url}/dicom-web",
            username=orthanc.username,
            password=orthanc.password,  # type: ignore[arg-type]
            timeout_s=5,
        )
        with running_node(tmp_path / "node", store="dicomweb", dicomweb_store=pacs) as node:
            assert httpx.get(f"{node.url}/health/ready").json()["status"] == "ready"
            proxy.faults.error_rate = 1.0
            _assert_not_ready(node)
