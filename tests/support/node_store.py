"""Run the node's tests on any image store, and look at what a node stored whatever its store.

**The variants.** ``EUCAIM_TEST_NODE_STORE=filesystem|s3|dicomweb`` (default ``filesystem``) chooses
the store of every node the tests start with :func:`tests.support.node_server.running_node` (and so
the ``node_server``, ``seeded_node`` and ``postgres_node`` fixtures), unless a test names a store
itself (``store=...``)::

    EUCAIM_TEST_NODE_STORE=s3 .venv/bin/pytest tests/integration/node
    EUCAIM_TEST_NODE_STORE=dicomweb EUCAIM_TEST_NODE_DATABASE=postgresql .venv/bin/pytest tests/integration

``s3``: each node gets a fresh prefix in one bucket of the session's SeaweedFS. ``dicomweb``: every
node keeps its images in the session's Orthanc (a PACS has no prefixes; see :func:`stored_objects`).
The choice is made once per session, before any node of any scope starts. Tests about the
filesystem store's own folder carry ``@pytest.mark.filesystem_store`` and are deselected (not
skipped) on the other stores; each names the test that covers the same behaviour on every store.

**What a node stored.** :func:`stored_objects` lists the instance objects a node's store holds,
read straight from the backend (files, S3 listing, Orthanc's REST API), not through the node's own
code, so a test can compare them with the index; :func:`leftovers` lists what a half-finished write
left (staging files, unfinished multipart uploads, health probes). ``RunningNode.stored_objects()``
and ``RunningNode.leftovers()`` call them.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pydicom
import pytest
from sqlalchemy import select

from eucaim.node.models import Instance
from eucaim.node.store.config import DicomwebStoreSettings, S3StoreSettings
from eucaim.node.store.filesystem import STAGING

if TYPE_CHECKING:  # imported by pytest as plugins, which must come first for assertion rewriting
    from tests.support.node_server import RunningNode
    from tests.support.orthanc import OrthancServer
    from tests.support.seaweedfs import SeaweedS3

KINDS = ("filesystem", "s3", "dicomweb")
# A PACS does not know biobanks: instances the node never indexed are listed under this one.
UNINDEXED = "_unindexed"
_HEALTH_PROBES = ".health/"


@dataclass(frozen=True)
class StoredObject:
    """One instance object as the store holds it.

    ``version`` changes whenever the object is written again (a file's inode and mtime, an S3
    object's ETag and LastModified, an Orthanc attachment's uuid), so a test can tell "left alone"
    from "written again with the same bytes".
    """

    key: str
    sha256: str
    size: int
    version: str


def store_kind() -> str:
    """Return the store the tests of this session run on (``EUCAIM_TEST_NODE_STORE``).

    Raises:
        pytest.UsageError: the variable names no store.
    """
    kind = os.environ.get("EUCAIM_TEST_NODE_STORE", "filesystem") or "filesystem"
    if kind not in KINDS:
        raise pytest.UsageError(f"EUCAIM_TEST_NODE_STORE={kind!r}: choose filesystem, s3 or dicomweb")
    return kind


# -- listing what a node stored ------------------------------------------------------------------


def stored_objects(node: RunningNode) -> dict[str, StoredObject]:
    """Return every instance object the node's store holds, by key.

    On a PACS the node's biobank is not stored: an instance's key is the one its index row names,
    or ``_unindexed/<study>/<series>/<sop>.dcm`` when the node never indexed it. The PACS is shared
    by every node of the session, so only instances it received since this node started count.
    """
    kind = node.settings.store
    if kind == "s3":
        return dict(_s3_objects(node))
    if kind == "dicomweb":
        return dict(_pacs_objects(node))
    return dict(_filesystem_objects(node))


def leftovers(node: RunningNode) -> list[str]:
    """Return what interrupted or unfinished writes left in the node's store (empty when clean).

    A PACS stores an instance whole or not at all, so a dicomweb store never has leftovers.
    """
    kind = node.settings.store
    if kind == "s3":
        client, bucket, prefix = _s3(node)
        uploads = _s3_pages(client, "list_multipart_uploads", "Uploads", bucket, prefix)
        probes = _s3_pages(client, "list_objects_v2", "Contents", bucket, prefix + _HEALTH_PROBES)
        return [f"unfinished upload {u['Key']}" for u in uploads] + [str(o["Key"]) for o in probes]
    if kind == "dicomweb":
        return []
    staging = node.settings.resolved_store_dir / STAGING
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())


def _filesystem_objects(node: RunningNode) -> Iterator[tuple[str, StoredObject]]:
    root = node.settings.resolved_store_dir
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == STAGING or not path.is_file():
            continue
        stat = path.stat()
        key = relative.as_posix()
        data = path.read_bytes()
        version = f"{stat.st_ino}:{stat.st_mtime_ns}"
        yield key, StoredObject(key, hashlib.sha256(data).hexdigest(), len(data), version)


def _s3(node: RunningNode) -> tuple[Any, str, str]:
    store: Any = node.context.store  # an S3Store: its boto3 client, bucket and prefix
    return store.client, str(store.bucket), str(store.prefix)


def _s3_pages(client: Any, operation: str, field: str, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get(field, [])


def _s3_objects(node: RunningNode) -> Iterator[tuple[str, StoredObject]]:
    client, bucket, prefix = _s3(node)
    for item in _s3_pages(client, "list_objects_v2", "Contents", bucket, prefix):
        key = str(item["Key"])[len(prefix) :]
        if key.startswith(_HEALTH_PROBES):
            continue  # a leftover, not an instance
        data = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        version = f"{item['ETag']}:{item['LastModified'].isoformat()}"
        yield key, StoredObject(key, hashlib.sha256(data).hexdigest(), len(data), version)


def _orthanc(node: RunningNode) -> httpx.Client:
    settings = node.settings.dicomweb_store
    if not settings.orthanc_url:
        raise AssertionError("listing a dicomweb store needs its Orthanc REST URL (orthanc_url)")
    password = settings.password.get_secret_value() if settings.password else ""
    return httpx.Client(base_url=settings.orthanc_url, auth=(settings.username or "", password), timeout=60)


def orthanc_last_change(settings: DicomwebStoreSettings) -> int:
    """Return the sequence number of Orthanc's latest change (where a new node's window starts)."""
    password = settings.password.get_secret_value() if settings.password else ""
    auth = (settings.username or "", password)
    response = httpx.get(f"{settings.orthanc_url}/changes", params={"last": ""}, auth=auth, timeout=60)
    response.raise_for_status()
    return int(response.json()["Last"])


def _pacs_objects(node: RunningNode) -> Iterator[tuple[str, StoredObject]]:
    with node.context.sessions() as session:
        rows = session.execute(select(Instance.sop_instance_uid, Instance.storage_key))
        indexed = {sop: key for sop, key in rows}
    with _orthanc(node) as orthanc:
        for orthanc_id in sorted(_new_instances(orthanc, since=node.pacs_changes_since)):
            described = orthanc.get(f"/instances/{orthanc_id}")
            if described.status_code == 404:
                continue  # deleted since
            described.raise_for_status()
            data = orthanc.get(f"/instances/{orthanc_id}/file").raise_for_status().content
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            sop = str(ds.SOPInstanceUID)
            key = indexed.get(sop, f"{UNINDEXED}/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{sop}.dcm")
            version = str(described.json()["FileUuid"])
            yield key, StoredObject(key, hashlib.sha256(data).hexdigest(), len(data), version)


def _new_instances(orthanc: httpx.Client, *, since: int) -> set[str]:
    found: set[str] = set()
    while True:
        page = orthanc.get("/changes", params={"since": since, "limit": 1000}).raise_for_status().json()
        found |= {c["ID"] for c in page["Changes"] if c["ChangeType"] == "NewInstance"}
        since = int(page["Last"])
        if page["Done"]:
            return found


# -- the plugin: choose the store of every node once per session --------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "filesystem_store: looks into the filesystem store's folder; deselected when "
        "EUCAIM_TEST_NODE_STORE names another store (the docstring names the test covering every store)",
    )
    if store_kind() == "s3":
        config.pluginmanager.import_plugin("tests.support.seaweedfs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if store_kind() == "filesystem":
        return
    kept = [item for item in items if item.get_closest_marker("filesystem_store") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def _node_store_for_session(request: pytest.FixtureRequest) -> Iterator[None]:
    """Point every node the session starts at the chosen store (before any node, of any scope)."""
    from tests.support import node_server

    kind = store_kind()
    provider: Callable[[], dict[str, object]] | None = None
    if kind == "s3":
        seaweedfs: SeaweedS3 = request.getfixturevalue("seaweedfs")
        bucket = seaweedfs.create_bucket()

        def provider() -> dict[str, object]:
            s3 = S3StoreSettings(
                endpoint_url=seaweedfs.endpoint_url,
                bucket=bucket,
                prefix=f"node-{uuid.uuid4().hex[:12]}",
                region=seaweedfs.region,
                access_key_id=seaweedfs.access_key,  # type: ignore[arg-type]
                secret_access_key=seaweedfs.secret_key,  # type: ignore[arg-type]
            )
            return {"store": "s3", "s3": s3}

    elif kind == "dicomweb":
        orthanc: OrthancServer = request.getfixturevalue("orthanc")

        def provider() -> dict[str, object]:
            pacs = DicomwebStoreSettings(
                url=orthanc.dicomweb_url,
                username=orthanc.username,
                password=orthanc.password,  # type: ignore[arg-type]
                orthanc_url=orthanc.http_url,
            )
            return {"store": "dicomweb", "dicomweb_store": pacs}

    node_server.store_settings_for_new_nodes = provider
    try:
        yield
    finally:
        node_server.store_settings_for_new_nodes = None
