"""Atomic writing of received instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from eucaim.ingest.sources.writer import remove_partial_files, write_atomically

UID = "1.2.826.0.1.3680043.8.498.77"


def test_writes_under_the_uid_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = write_atomically(tmp_path, UID, b"DICM-bytes")

    assert path == tmp_path / f"{UID}.dcm"
    assert path.read_bytes() == b"DICM-bytes"
    assert [p.name for p in tmp_path.iterdir()] == [f"{UID}.dcm"]


def test_second_write_replaces_the_first(tmp_path: Path) -> None:
    write_atomically(tmp_path, UID, b"old")
    write_atomically(tmp_path, UID, b"new")

    assert (tmp_path / f"{UID}.dcm").read_bytes() == b"new"


@pytest.mark.parametrize("uid", ["../../etc/passwd", "1.2/../3", "", "1." + "2" * 70, "1.2.3 "])
def test_a_uid_that_could_escape_the_folder_is_refused(tmp_path: Path, uid: str) -> None:
    with pytest.raises(ValueError, match="not a valid DICOM UID"):
        write_atomically(tmp_path / "in", uid, b"x")

    assert not (tmp_path / "in").exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "missing", UID, b"x")

    assert list(tmp_path.iterdir()) == []


def test_partial_files_from_a_crash_are_removed_and_finished_ones_kept(tmp_path: Path) -> None:
    write_atomically(tmp_path, UID, b"done")
    (tmp_path / f".{UID}.0123abcd.part").write_bytes(b"half")
    (tmp_path / ".1.2.3.ffff.part").write_bytes(b"half")

    assert remove_partial_files(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == [f"{UID}.dcm"]
