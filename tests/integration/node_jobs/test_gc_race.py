"""``store gc --delete`` racing a STOW that re-sends the very instance gc is collecting.

A killed STOW left an orphan; the client sends the instance again just as gc collects. The STOW's
write finds the same bytes in place and keeps them, gc deletes them, and the STOW commits its row.
Each interleaving is forced deterministically, on the real stores (a folder, a SeaweedFS bucket)
and databases (SQLite, PostgreSQL), by running one side's real steps inside the other's: gc runs
whole between the STOW's put and its index row, or the STOW runs whole inside gc's delete. Either
way every index row ends with its object, whole, and WADO serves it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from eucaim.dicomweb.multipart import SpooledPart
from eucaim.node.models import Biobank, Instance
from eucaim.node.services.stow import DicomwebUrls, store_parts
from eucaim.node.store import ImageStore, object_key
from eucaim.node.store.filesystem import FilesystemStore
from eucaim.node.store.gc import GcReport, delete_orphans, find_orphans
from eucaim.node.store.s3 import S3Store
from tests.support.node_server import RunningNode, deidentified_instance, running_node

pytestmark = pytest.mark.timeout(180)

STUDY, SERIES, SOP = generate_uid(), generate_uid(), generate_uid()


class _Hooked:
    """A real store whose put_new, or delete, runs ``hook`` right after doing its work."""

    after_put: Callable[[], None] | None = None
    after_delete: Callable[[], None] | None = None

    def put_new(self, key: str, source: Path, *, sha256: str) -> bool:
        written: bool = super().put_new(key, source, sha256=sha256)  # type: ignore[misc]
        if self.after_put is not None:
            hook, self.after_put = self.after_put, None
            hook()
        return written

    def delete(self, key: str) -> None:
        super().delete(key)  # type: ignore[misc]
        if self.after_delete is not None:
            hook, self.after_delete = self.after_delete, None
            hook()


class _HookedFolder(_Hooked, FilesystemStore):
    pass


class _HookedBucket(_Hooked, S3Store):
    pass


def _hooked(real: ImageStore) -> _Hooked:
    """Return a store on the same folder or bucket as ``real``, with hooks."""
    if isinstance(real, FilesystemStore):
        return _HookedFolder(real.root)
    assert isinstance(real, S3Store)
    return _HookedBucket(real.settings, client=real.client)


@pytest.fixture(params=["filesystem+sqlite", "s3+postgresql"])
def node(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningNode]:
    """A node with biobank ``bb``: on a folder and SQLite, or on SeaweedFS and PostgreSQL."""
    if request.param == "filesystem+sqlite":
        settings: dict[str, Any] = {"store": "filesystem"}
    else:
        seaweedfs, bucket = request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket")
        for name, value in seaweedfs.node_settings(bucket, prefix="node").items():
            monkeypatch.setenv(name, value)
        settings = {"store": "s3", "database_url": request.getfixturevalue("postgres_database")}
    with running_node(tmp_path / "node", **settings) as running:
        running.create_biobank("bb")
        yield running


def _instance(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "instance.dcm"
    deidentified_instance(path, study_uid=STUDY, series_uid=SERIES, sop_uid=SOP)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _plant_orphan(node: RunningNode, instance: Path, sha256: str, tmp_path: Path) -> str:
    """Put the instance's bytes under its key with no index row, as a STOW killed before its row."""
    copy = tmp_path / "orphan.dcm"
    copy.write_bytes(instance.read_bytes())
    key = object_key("bb", STUDY, SERIES, SOP)
    assert node.context.store.put_new(key, copy, sha256=sha256)
    return key


def _stow(node: RunningNode, store: ImageStore, instance: Path, sha256: str, spool: Path) -> None:
    """Re-send the instance through the STOW service, from a spooled part as a request has it."""
    spool.mkdir(parents=True, exist_ok=True)
    part_path = spool / "part-0"
    part_path.write_bytes(instance.read_bytes())
    part = SpooledPart(
        index=0,
        path=part_path,
        headers={"content-type": "application/dicom"},
        size=part_path.stat().st_size,
        sha256=sha256,
        complete=True,
    )
    with node.context.sessions() as session:
        biobank_id = session.scalar(select(Biobank.id).where(Biobank.code == "bb"))
    assert biobank_id is not None
    outcome = store_parts(
        factory=node.context.sessions,
        store=store,
        biobank_id=biobank_id,
        biobank_code="bb",
        parts=[part],
        url_study_uid=None,
        urls=DicomwebUrls(node.dicomweb_url("bb")),
    )
    assert [s.sop_instance_uid for s in outcome.stored] == [SOP] and outcome.failed == []


def _collect(node: RunningNode, store: ImageStore, tmp_path: Path) -> GcReport:
    """Run what `eucaim-node store gc --delete --min-age-hours 0` runs, on ``store``."""
    sessions = node.context.sessions
    report = find_orphans(sessions, store, now=time.time() + 60, min_age_s=0)
    delete_orphans(sessions, store, report, tmp_dir=tmp_path / "gc-tmp")
    return report


def _assert_served_whole(node: RunningNode, key: str, sha256: str) -> None:
    with node.context.sessions() as session:
        rows = session.execute(select(Instance.storage_key, Instance.sha256)).all()
    assert [tuple(r) for r in rows] == [(key, sha256)]
    assert hashlib.sha256(node.read_object(key)).hexdigest() == sha256
    token = node.add_user("reader", "admin")
    wado = httpx.get(
        f"{node.dicomweb_url('bb')}/studies/{STUDY}/series/{SERIES}/instances/{SOP}",
        headers=node.auth(token) | {"Accept": 'multipart/related; type="application/dicom"'},
        timeout=30,
    )
    assert wado.status_code == 200, wado.text
    assert node.read_object(key) in wado.content


def test_gc_deleting_between_the_stows_put_and_its_row_is_undone_by_the_stow(
    node: RunningNode, tmp_path: Path
) -> None:
    instance, sha = _instance(tmp_path)
    key = _plant_orphan(node, instance, sha, tmp_path)
    reports: list[GcReport] = []
    stow_store = _hooked(node.context.store)
    # The STOW's write finds the orphan's bytes and keeps them; then gc runs whole: both of its
    # index checks see no row (the STOW has not committed), so it deletes the object.
    stow_store.after_put = lambda: reports.append(_collect(node, node.context.store, tmp_path))
    _stow(node, stow_store, instance, sha, tmp_path / "spool")
    assert [(r.deleted, r.kept_for_new_rows) for r in reports] == [(1, 0)]  # gc did delete it
    _assert_served_whole(node, key, sha)
    assert list((tmp_path / "spool").iterdir()) == []  # the request's bytes are released


def test_a_stow_committing_during_gcs_delete_gets_its_bytes_back_from_gc(
    node: RunningNode, tmp_path: Path
) -> None:
    instance, sha = _instance(tmp_path)
    key = _plant_orphan(node, instance, sha, tmp_path)
    gc_store = _hooked(node.context.store)
    # gc deletes the orphan; the whole re-send runs before gc looks at the index again.
    gc_store.after_delete = lambda: _stow(node, node.context.store, instance, sha, tmp_path / "spool")
    report = _collect(node, gc_store, tmp_path)
    assert (report.deleted, report.kept_for_new_rows) == (0, 1)
    _assert_served_whole(node, key, sha)
    assert list((tmp_path / "gc-tmp").iterdir()) == []
