"""The filesystem image store and the schema migrations."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from eucaim.errors import InvalidDicomError, NotFound, TransientError
from eucaim.node.app import STALE_SPOOL_AGE_S, remove_stale_spools
from eucaim.node.db import make_engine
from eucaim.node.migration import current_revision, head_revision, upgrade_database
from eucaim.node.models import Base
from eucaim.node.services.health import check_health
from eucaim.node.store import FilesystemStore, object_key


def test_put_open_size_exists_delete(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    source = tmp_path / "in.bin"
    source.write_bytes(b"dicom bytes")
    key = object_key("bb", "1.2", "1.3", "1.4")
    assert key == "bb/1.2/1.3/1.4.dcm"
    store.put_file(key, source)
    assert not source.exists()  # consumed
    assert store.exists(key) and store.size(key) == 11
    with store.open(key) as f:
        assert f.read() == b"dicom bytes"
    # No staging files are left next to the object.
    assert [p.name for p in (tmp_path / "store" / "bb" / "1.2" / "1.3").iterdir()] == ["1.4.dcm"]
    store.delete(key)
    store.delete(key)  # absent is fine
    assert not store.exists(key)
    with pytest.raises(NotFound):
        store.open(key)
    with pytest.raises(NotFound):
        store.size(key)


def test_put_replaces_an_orphan_atomically(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    for content in (b"old", b"new"):
        source = tmp_path / "src"
        source.write_bytes(content)
        store.put_file("bb/1/2/3.dcm", source)
    with store.open("bb/1/2/3.dcm") as f:
        assert f.read() == b"new"


@pytest.mark.parametrize("key", ["../outside.dcm", "bb/../../x.dcm", "/etc/passwd"])
def test_keys_cannot_leave_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="leaves the store"):
        FilesystemStore(tmp_path / "store").exists(key)


@pytest.mark.parametrize(
    ("study", "series", "sop"), [("1.2", "1.3", "../x"), ("1..2", "1", "1"), ("", "1", "1")]
)
def test_object_keys_need_real_uids(study: str, series: str, sop: str) -> None:
    with pytest.raises(InvalidDicomError, match="not a valid DICOM UID"):
        object_key("bb", study, series, sop)


def test_check_reports_an_unwritable_store(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(TransientError, match="not writable"):
        FilesystemStore(blocker / "store").check()


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    assert current_revision(engine) is None
    assert upgrade_database(engine) == head_revision()
    assert upgrade_database(engine) == head_revision()  # idempotent
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_health_names_an_old_schema_and_a_broken_store(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    report = check_health(engine=engine, store=FilesystemStore(blocker / "store"))
    assert not report.ok
    assert "eucaim-node db upgrade" in report.database
    assert report.store.startswith("failing")
    upgrade_database(engine)
    assert check_health(engine=engine, store=FilesystemStore(tmp_path / "store")).ok
    engine.dispose()


def test_only_old_spools_are_removed_at_start(tmp_path: Path) -> None:
    old, fresh, other = tmp_path / "stow-old", tmp_path / "stow-fresh", tmp_path / "keep-me"
    for folder in (old, fresh, other):
        folder.mkdir()
        (folder / "part-00000").write_bytes(b"x")
    os.utime(old, (1_000, 1_000))
    assert remove_stale_spools(tmp_path, now=1_000 + STALE_SPOOL_AGE_S + 1) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep-me", "stow-fresh"]


def test_puts_stage_outside_the_instance_folders_and_dead_processes_leftovers_go(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    source = tmp_path / "in.bin"
    source.write_bytes(b"x")
    store.put_file("bb/1/2/3.dcm", source)
    assert [p.name for p in (tmp_path / "store" / "bb" / "1" / "2").iterdir()] == ["3.dcm"]
    staging = tmp_path / "store" / ".staging"
    # What a process killed mid-put leaves: its own folder with a half-written object.
    host = socket.gethostname()
    gone = staging / f"{host}-{_exited_pid()}"
    gone.mkdir(parents=True)
    (gone / "abc.tmp").write_bytes(b"half")
    mine = staging / f"{host}-{os.getpid()}"
    remote_old, remote_new = staging / "otherhost-12", staging / "otherhost-13"
    for folder in (remote_old, remote_new):
        folder.mkdir()
    os.utime(remote_old, (1_000, 1_000))
    assert store.remove_leftovers(now=1_000 + 3601) == 2
    assert sorted(p.name for p in staging.iterdir()) == sorted([mine.name, remote_new.name])


def _exited_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
