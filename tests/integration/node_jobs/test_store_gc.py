"""``eucaim-node store gc``: orphans (objects no index row references) listed, deleted only on request.

Real stores (a folder, a SeaweedFS bucket) and the real command; the orphans are planted where a
killed STOW leaves them. Indexed objects are never touched, young orphans (a STOW may be in flight)
are left alone, and an orphan that gets its index row during the collection keeps its bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import update

from eucaim.node.db import session_scope
from eucaim.node.models import Instance
from eucaim.node.store.filesystem import FilesystemStore
from eucaim.node.store.gc import delete_orphans, find_orphans
from tests.integration.node_jobs.processes import NODE, node_env
from tests.support.node_server import RunningNode, fill_biobank, running_node
from tests.support.seaweedfs import SeaweedS3

DAY = 24 * 3600


def _fill(node: RunningNode, tmp_path: Path, count: int = 3) -> dict[str, str]:
    """STOW ``count`` instances; return storage key -> sha256 of each index row."""
    return fill_biobank(node, tmp_path / "in", count)


def _gc(data: Path, env: dict[str, str], *options: str) -> str:
    done = subprocess.run(
        [*NODE, "store", "gc", "--data", str(data), *options],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _orphan_key(indexed_key: str) -> str:
    """Return a key beside an indexed one, as a killed STOW of another instance would leave."""
    return indexed_key.rsplit("/", 1)[0] + f"/{generate_uid()}.dcm"


def test_gc_lists_then_deletes_only_old_orphans_of_a_folder_store(tmp_path: Path) -> None:
    data = tmp_path / "node"
    with running_node(data, store="filesystem") as node:
        indexed = _fill(node, tmp_path)
        store_dir = node.store_dir
    first = next(iter(indexed))
    old, young = _orphan_key(first), _orphan_key(first)
    for key in (old, young):
        shutil.copyfile(store_dir / first, store_dir / key)
    os.utime(store_dir / old, (time.time() - 2 * DAY, time.time() - 2 * DAY))
    (store_dir / ".staging" / "1234").mkdir(parents=True)
    (store_dir / ".staging" / "1234" / "x.dcm").write_bytes(b"half")  # staging is not the index's business
    env = node_env("", EUCAIM_NODE_STORE="filesystem")
    del env["EUCAIM_NODE_DATABASE_URL"]  # the embedded SQLite of --data

    listed = _gc(data, env)
    assert f"orphan {old} (" in listed and young not in listed
    assert "5 object(s) in the store, 1 orphan(s)" in listed and "1 younger orphan(s) left alone" in listed
    assert "nothing deleted (dry run)" in listed
    assert (store_dir / old).exists()

    deleted = _gc(data, env, "--delete")
    assert "1 deleted, 0 kept" in deleted
    assert not (store_dir / old).exists() and (store_dir / young).exists()
    for key, sha in indexed.items():  # every indexed object is still there, unchanged
        assert hashlib.sha256((store_dir / key).read_bytes()).hexdigest() == sha
    # Told that nothing is in flight (--min-age-hours 0), the young one goes too; indexed ones stay.
    assert "1 deleted" in _gc(data, env, "--min-age-hours", "0", "--delete")
    left = {
        p.relative_to(store_dir).as_posix() for p in store_dir.rglob("*.dcm") if ".staging" not in p.parts
    }
    assert left == set(indexed)


def test_an_orphan_indexed_during_the_collection_keeps_its_bytes(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", store="filesystem") as node:
        indexed = _fill(node, tmp_path, count=1)
        sessions, store_dir = node.context.sessions, node.store_dir
        ((key, sha),) = indexed.items()
        orphan = _orphan_key(key)
        shutil.copyfile(store_dir / key, store_dir / orphan)

        class StowMeanwhile(FilesystemStore):
            """The store as a STOW sees it: the row that names the orphan commits during the delete."""

            def delete(self, key: str) -> None:
                super().delete(key)
                with session_scope(sessions) as session:
                    session.execute(update(Instance).values(storage_key=orphan))

        store = StowMeanwhile(store_dir)
        report = find_orphans(sessions, store, now=time.time(), min_age_s=0)
        assert [o.key for o in report.orphans] == [orphan]
        delete_orphans(sessions, store, report, tmp_dir=tmp_path / "tmp")
    assert (report.deleted, report.kept_for_new_rows) == (0, 1)
    assert hashlib.sha256((store_dir / orphan).read_bytes()).hexdigest() == sha  # put back, whole
    assert list((tmp_path / "tmp").iterdir()) == []


def test_gc_deletes_orphans_of_an_s3_store(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_env = seaweedfs.node_settings(s3_bucket, prefix="node")
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "node"
    with running_node(data, store="s3") as node:
        indexed = _fill(node, tmp_path)
    client = seaweedfs.client()
    orphan = _orphan_key(next(iter(indexed)))
    client.put_object(Bucket=s3_bucket, Key=f"node/{orphan}", Body=b"left by a killed STOW")
    env = node_env("") | s3_env
    del env["EUCAIM_NODE_DATABASE_URL"]

    assert "0 orphan(s)" in _gc(data, env)  # younger than a day: left alone
    deleted = _gc(data, env, "--min-age-hours", "0", "--delete")
    assert f"orphan {orphan} (21 bytes)" in deleted and "1 deleted" in deleted
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="node/").get("Contents", [])}
    assert {k.removeprefix("node/") for k in keys if not k.startswith("node/.health/")} == set(indexed)
