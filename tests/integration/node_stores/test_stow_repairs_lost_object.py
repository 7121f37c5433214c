"""A re-sent instance whose index row lost its object (restore, operator, lifecycle rule) repairs it.

The hospital's recovery is to send again. The node keeps the row, so the re-send is a duplicate;
the STOW still checks the object the row names (a stat, a HEAD) and writes it again from the
request's bytes when it is missing or of another size, answering as for any duplicate. An object
in place is left alone. On the real stores and databases: a folder with SQLite, SeaweedFS with
PostgreSQL, and Orthanc as a PACS store (presence only: a QIDO; the size would cost a WADO read).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from eucaim.node.models import Instance
from eucaim.node.store.config import DicomwebStoreSettings
from eucaim.node.store.filesystem import FilesystemStore
from eucaim.node.store.s3 import S3Store
from tests.support.node_server import RunningNode, deidentified_instance, running_node, stow_body
from tests.support.orthanc import OrthancServer

pytestmark = pytest.mark.timeout(180)

PATIENT = "EUCAIM-REPAIR-77"  # must never reach a log line


STAT_STORES = ["filesystem+sqlite", "s3+postgresql"]


@pytest.fixture(params=[*STAT_STORES, "dicomweb+sqlite"])
def node(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningNode]:
    """A node on a folder and SQLite, on SeaweedFS and PostgreSQL, or on Orthanc and SQLite."""
    if request.param == "filesystem+sqlite":
        settings: dict[str, Any] = {"store": "filesystem"}
    elif request.param == "dicomweb+sqlite":
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
    else:
        seaweedfs, bucket = request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket")
        for name, value in seaweedfs.node_settings(bucket, prefix="node").items():
            monkeypatch.setenv(name, value)
        settings = {"store": "s3", "database_url": request.getfixturevalue("postgres_database")}
    with running_node(tmp_path / "node", **settings) as running:
        yield running


class _Sender:
    """STOWs two instances into biobank ``bb`` and reads their index rows back."""

    def __init__(self, node: RunningNode, tmp_path: Path) -> None:
        self.node = node
        self.auth = node.auth(node.add_user("sender", "data-ingester"))
        node.create_biobank("bb", managers=["sender"])
        self.study, self.series = generate_uid(), generate_uid()
        self.sops = [generate_uid(), generate_uid()]  # the first loses its object, the second not
        self.files = [tmp_path / f"{n}.dcm" for n in range(2)]
        for n, (path, sop) in enumerate(zip(self.files, self.sops, strict=True)):
            deidentified_instance(
                path, study_uid=self.study, series_uid=self.series, sop_uid=sop, instance_number=n,
                pixel_seed=n, patient_id=PATIENT,
            )  # fmt: skip

    def send(self) -> dict[str, Any]:
        """STOW both files in one request; return the Store Instances Response."""
        content_type, body = stow_body(self.files)
        response = httpx.post(
            f"{self.node.dicomweb_url('bb')}/studies/{self.study}",
            content=body,
            headers=self.auth | {"Content-Type": content_type},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def rows(self) -> list[tuple[str, str, int]]:
        """Return (storage_key, sha256, size) of each instance's row, in file order."""
        with self.node.context.sessions() as session:
            found = {
                sop: (key, sha, size)
                for sop, key, sha, size in session.execute(
                    select(Instance.sop_instance_uid, Instance.storage_key, Instance.sha256, Instance.size)
                )
            }
        return [found[sop] for sop in self.sops]

    def assert_served_whole(self) -> None:
        """Every row's object holds the row's bytes (those sent), and WADO serves each instance."""
        reader = self.node.auth(self.node.add_user(f"reader-{time.monotonic_ns()}", "admin"))
        for path, sop, (key, sha256, size) in zip(self.files, self.sops, self.rows(), strict=True):
            held = self.node.read_object(key)
            assert (hashlib.sha256(held).hexdigest(), len(held)) == (sha256, size)
            assert held == path.read_bytes()
            wado = httpx.get(
                f"{self.node.dicomweb_url('bb')}/studies/{self.study}/series/{self.series}/instances/{sop}",
                headers=reader | {"Accept": 'multipart/related; type="application/dicom"'},
                timeout=30,
            )
            assert wado.status_code == 200, wado.text
            assert held in wado.content


def _stamp(node: RunningNode, key: str) -> tuple[object, ...]:
    """What writing the object again changes: inode and mtime, or S3's ETag and LastModified.

    Empty on a PACS: Orthanc keeps an instance it holds whatever is sent again (AlreadyStored), so
    nothing there would show a rewrite; the node's log says whether it wrote.
    """
    store = node.context.store
    if isinstance(store, FilesystemStore):
        stat = os.stat(store.root / key)
        return stat.st_ino, stat.st_mtime_ns
    if not isinstance(store, S3Store):
        return ()
    head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + key)
    return head["ETag"], head["LastModified"]


def _repair_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "written again from a re-send" in r.getMessage()]


def test_a_resend_writes_a_lost_object_again(
    node: RunningNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sender = _Sender(node, tmp_path)
    first = sender.send()
    duplicate = sender.send()  # a normal re-send: both objects in place
    (lost_key, _, _), (kept_key, _, _) = sender.rows()
    kept_stamp = _stamp(node, kept_key)
    node.delete_object(lost_key)  # behind the node's back: the row stays
    assert not node.context.store.exists(lost_key)
    time.sleep(1.1)  # S3's LastModified has whole seconds: a rewrite now would show

    with caplog.at_level(logging.INFO, logger="eucaim.node"):
        repaired = sender.send()

    assert repaired == duplicate  # same ReferencedSOPSequence, no failure, as any re-send
    assert {i["00081155"]["Value"][0] for i in first["00081199"]["Value"]} == set(sender.sops)
    assert "00081198" not in repaired
    sender.assert_served_whole()
    assert _stamp(node, kept_key) == kept_stamp  # the object in place was not written again
    assert _repair_lines(caplog) == [
        f"object {lost_key} named by an index row was missing or truncated; written again from a re-send"
    ]
    assert not any(PATIENT in r.getMessage() for r in caplog.records)
    assert node.leftovers() == []


@pytest.mark.parametrize("node", STAT_STORES, indirect=True)
def test_a_resend_replaces_an_object_of_another_size(node: RunningNode, tmp_path: Path) -> None:
    sender = _Sender(node, tmp_path)
    sender.send()
    (damaged_key, _, size), _ = sender.rows()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(sender.files[0].read_bytes()[: size // 2])  # a partial restore
    node.context.store.put_file(damaged_key, truncated)
    assert node.context.store.size(damaged_key) == size // 2

    sender.send()

    sender.assert_served_whole()


def test_a_normal_resend_writes_nothing(
    node: RunningNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sender = _Sender(node, tmp_path)
    first = sender.send()
    stamps = [_stamp(node, key) for key, _, _ in sender.rows()]
    time.sleep(1.1)  # S3's LastModified has whole seconds: a rewrite now would show

    with caplog.at_level(logging.INFO, logger="eucaim.node"):
        again = sender.send()

    assert again == first
    assert [_stamp(node, key) for key, _, _ in sender.rows()] == stamps
    assert _repair_lines(caplog) == []
    sender.assert_served_whole()


@pytest.mark.parametrize("node", ["filesystem+sqlite"], indirect=True)
def test_a_lost_object_that_cannot_be_written_again_is_refused_until_it_can(
    node: RunningNode, tmp_path: Path
) -> None:
    sender = _Sender(node, tmp_path)
    sender.send()
    (lost_key, _, _), _ = sender.rows()
    store = node.context.store
    assert isinstance(store, FilesystemStore)
    series_folder = (store.root / lost_key).parent
    for path in series_folder.iterdir():
        path.unlink()
    series_folder.rmdir()
    series_folder.write_bytes(b"")  # a file where the series folder was: nothing can go there

    content_type, body = stow_body(sender.files)
    refused = httpx.post(
        f"{node.dicomweb_url('bb')}/studies/{sender.study}",
        content=body,
        headers=sender.auth | {"Content-Type": content_type},
        timeout=60,
    )

    assert refused.status_code == 409, refused.text  # all failed; 0xA700 tells the client to retry
    failed = refused.json()["00081198"]["Value"]
    assert [(f["00081155"]["Value"][0], f["00081197"]["Value"][0]) for f in failed] == [
        (sop, 0xA700) for sop in sender.sops
    ]
    series_folder.unlink()  # the operator mends the store; the retry repairs both
    sender.send()
    sender.assert_served_whole()


@pytest.mark.parametrize("node", STAT_STORES, indirect=True)
def test_wado_of_a_lost_object_answers_404_with_what_to_do(node: RunningNode, tmp_path: Path) -> None:
    """Before the fix the node began a 200 stream and cut the connection: a client saw a network
    error, not that the node lacks the object and a re-send repairs it."""
    sender = _Sender(node, tmp_path)
    sender.send()
    (lost_key, _, _), _ = sender.rows()
    node.delete_object(lost_key)
    reader = node.auth(node.add_user("reader", "admin"))

    wado = httpx.get(
        f"{node.dicomweb_url('bb')}/studies/{sender.study}/series/{sender.series}/instances/{sender.sops[0]}",
        headers=reader | {"Accept": 'multipart/related; type="application/dicom"'},
        timeout=30,
    )

    assert wado.status_code == 404
    assert "stored object is missing" in wado.text
    assert "--resend" in wado.text
    sender.send()  # the re-send writes it back
    sender.assert_served_whole()
