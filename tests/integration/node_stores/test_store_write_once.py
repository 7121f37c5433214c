"""Write-once placement: no store write ever replaces an object, so racing STOWs cannot corrupt one.

The race the node had: two concurrent STOWs of one SOPInstanceUID with different bytes, where the
later put overwrote the object whose row won the index. Now the second bytes go to their own
content-addressed key, and the request that loses the index race deletes its own object.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

from eucaim.node.models import Instance
from eucaim.node.store import FilesystemStore
from eucaim.node.store.write_once import place_once
from tests.support.node_server import SeededNode, deidentified_instance, stow_body


def _source(path: Path, content: bytes) -> tuple[Path, str]:
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_filesystem_put_new_never_replaces(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    first, sha = _source(tmp_path / "a", b"first")
    assert store.put_new("bb/1/2/3.dcm", first, sha256=sha) and not first.exists()
    same, _ = _source(tmp_path / "b", b"first")
    assert store.put_new("bb/1/2/3.dcm", same, sha256=sha) and not same.exists()
    other, other_sha = _source(tmp_path / "c", b"other")
    assert not store.put_new("bb/1/2/3.dcm", other, sha256=other_sha)
    assert other.exists()  # kept for the caller's next try
    with store.open("bb/1/2/3.dcm") as f:
        assert f.read() == b"first"


def test_racing_writers_of_one_uid_each_keep_their_own_bytes(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    sources = [_source(tmp_path / f"s{n}", f"bytes of writer {n}".encode()) for n in range(8)]

    def place(item: tuple[Path, str]) -> str:
        path, sha = item
        return place_once(
            store,
            biobank_code="bb",
            study_uid="1.2",
            series_uid="1.3",
            sop_uid="1.4",
            source=path,
            sha256=sha,
        )

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(place, sources))
    assert len(set(keys)) == 8 and keys.count("bb/1.2/1.3/1.4.dcm") == 1
    for key, (_, sha) in zip(keys, sources, strict=True):
        with store.open(key) as f:
            assert hashlib.sha256(f.read()).hexdigest() == sha  # nobody's object was overwritten
    assert not list((tmp_path / "store" / ".staging").rglob("*.tmp"))


def test_concurrent_stows_with_other_bytes_leave_one_matching_object(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    url, auth = f"{seeded_node.dicomweb_url}/studies", seeded_node.node.auth(seeded_node.ingester_token)
    study, series = generate_uid(), generate_uid()
    bodies = []
    for round_ in range(8):
        sop = generate_uid()
        for seed in (1, 2):
            path = tmp_path / f"{round_}-{seed}.dcm"
            deidentified_instance(path, study_uid=study, series_uid=series, sop_uid=sop, pixel_seed=seed)
            bodies.append(stow_body([path]))

    def post(body: tuple[str, bytes]) -> int:
        return httpx.post(
            url, content=body[1], headers=auth | {"Content-Type": body[0]}, timeout=60
        ).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(post, bodies))
    assert sorted(statuses) == [200] * 8 + [409] * 8  # per UID: one stored, the other refused

    with seeded_node.node.context.sessions() as session:
        rows = {i.storage_key: i.sha256 for i in session.query(Instance)}
    assert len(rows) == 8
    store_dir = seeded_node.node.store_dir
    on_disk = {
        str(p.relative_to(store_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in store_dir.rglob("*.dcm")
    }
    assert on_disk == rows  # each row's object holds its bytes; the losers' objects are gone
