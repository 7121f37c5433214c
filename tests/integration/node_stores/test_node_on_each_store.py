"""The node's main flow on each image store: STOW, re-send, other bytes refused, QIDO, WADO, metadata.

One test per store in the main run; ``make test`` also reruns the whole node suite on each store
(``EUCAIM_TEST_NODE_STORE=s3|dicomweb``, see tests/support/node_store.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import parse_store_response
from eucaim.node.models import Instance
from eucaim.node.store.config import DicomwebStoreSettings, S3StoreSettings
from tests.support.node_server import RunningNode, deidentified_instance, running_node, stow_body
from tests.support.orthanc import OrthancServer
from tests.support.seaweedfs import SeaweedS3


@pytest.fixture(params=["filesystem", "s3", "dicomweb"])
def store_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningNode]:
    """A node on each store kind (SeaweedFS bucket or the session's emptied Orthanc)."""
    settings: dict[str, object] = {"store": "filesystem"}  # named, so no session store applies
    if request.param == "s3":
        seaweedfs: SeaweedS3 = request.getfixturevalue("seaweedfs")
        settings = {
            "store": "s3",
            "s3": S3StoreSettings(
                endpoint_url=seaweedfs.endpoint_url,
                bucket=seaweedfs.create_bucket(),
                access_key_id=seaweedfs.access_key,  # type: ignore[arg-type]
                secret_access_key=seaweedfs.secret_key,  # type: ignore[arg-type]
            ),
        }
    elif request.param == "dicomweb":
        orthanc: OrthancServer = request.getfixturevalue("orthanc_clean")
        settings = {
            "store": "dicomweb",
            "dicomweb_store": DicomwebStoreSettings(
                url=orthanc.dicomweb_url,
                username=orthanc.username,
                password=orthanc.password,  # type: ignore[arg-type]
                orthanc_url=orthanc.http_url,
            ),
        }
    with running_node(tmp_path / "node", **settings) as node:
        yield node


def test_main_flow_on_each_store(store_node: RunningNode, tmp_path: Path) -> None:
    token = store_node.add_user("ing", "data-ingester")
    store_node.create_biobank("bb", managers=["ing"])
    root, auth = store_node.dicomweb_url("bb"), store_node.auth(token)
    study, series = generate_uid(), generate_uid()
    files = [tmp_path / f"{n}.dcm" for n in range(3)]
    first, *_ = [
        deidentified_instance(path, study_uid=study, series_uid=series, instance_number=n, pixel_seed=n)
        for n, path in enumerate(files)
    ]

    def post(paths: list[Path]) -> httpx.Response:
        content_type, body = stow_body(paths)
        return httpx.post(f"{root}/studies", content=body, headers=auth | {"Content-Type": content_type})

    assert post(files).status_code == 200
    assert post(files).status_code == 200  # a re-send is fine and stores nothing new
    clash = tmp_path / "clash.dcm"
    deidentified_instance(
        clash, study_uid=study, series_uid=series, sop_uid=first.SOPInstanceUID, pixel_seed=9
    )
    refused = post([clash])
    assert refused.status_code == 409
    assert [f.failure_reason for f in parse_store_response(refused.json()).failed] == [
        FailureReason.DUPLICATE_SOP_INSTANCE
    ]

    found = httpx.get(f"{root}/studies/{study}/series/{series}/instances", headers=auth).json()
    assert len(found) == 3
    url = next(i["00081190"]["Value"][0] for i in found if i["00080018"]["Value"] == [first.SOPInstanceUID])
    retrieved = httpx.get(url, headers=auth)
    assert retrieved.status_code == 200
    assert files[0].read_bytes() in retrieved.content and clash.read_bytes() not in retrieved.content
    metadata = httpx.get(f"{url}/metadata", headers=auth).json()
    assert metadata[0]["00080018"]["Value"] == [first.SOPInstanceUID]

    # Every object the index lists is in the store, with the bytes its row names.
    store = store_node.context.store
    with store_node.context.sessions() as session:
        rows = session.query(Instance).all()
    assert len(rows) == 3
    for row in rows:
        with store.open(row.storage_key) as f:
            assert hashlib.sha256(f.read()).hexdigest() == row.sha256
    health = httpx.get(f"{store_node.url}/health")
    assert health.status_code == 200, health.text  # the store's own check passes
