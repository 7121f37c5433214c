"""The pure parts of the XNAT target: session labels, zip members and their digests."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

from eucaim.ingest.upload.base import OutgoingInstance
from eucaim.ingest.upload.xnat import session_label, subject_label
from eucaim.ingest.upload.xnat_zip import member_name, sop_uid_of_member, write_session_zip

XNAT_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")


def test_labels_are_deterministic_valid_and_distinct_per_study() -> None:
    a = session_label("EUCAIM-3F2A9C", "2.25.1234")
    assert a == session_label("EUCAIM-3F2A9C", "2.25.1234")
    assert a.startswith("EUCAIM-3F2A9C_") and XNAT_LABEL.match(a)
    assert a != session_label("EUCAIM-3F2A9C", "2.25.1235")
    assert subject_label("site A/ps.1") == "site_A_ps_1"


def test_the_zip_holds_every_file_byte_for_byte_and_names_each_instance(tmp_path: Path) -> None:
    items = []
    for n in range(3):
        path = tmp_path / f"{n}.dcm"
        path.write_bytes(bytes([n]) * (1000 + n))
        items.append(OutgoingInstance(n, path, 1000 + n, f"2.25.{n}", "2.25.9", "2.25.8"))
    packed = write_session_zip(items, tmp_path / "zips")
    assert packed.size == packed.path.stat().st_size
    with zipfile.ZipFile(packed.path) as archive:
        for item in items:
            data = archive.read(member_name(item))
            assert data == item.path.read_bytes()
            assert packed.md5[item.sop_instance_uid] == hashlib.md5(data).hexdigest()
            assert sop_uid_of_member(member_name(item)) == item.sop_instance_uid
    assert b"".join(packed.chunks()) == packed.path.read_bytes()
    packed.remove()
    assert list((tmp_path / "zips").iterdir()) == []
    assert sop_uid_of_member("notes.txt") is None
