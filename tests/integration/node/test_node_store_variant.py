"""The store variant of the session holds: every node runs on the store EUCAIM_TEST_NODE_STORE names,
nodes do not see each other's objects, and the helpers that look into a store see what they claim.

The node tests assert what a node stored through ``node.stored_objects()`` and ``node.leftovers()``
(tests/support/node_store.py); these tests keep those helpers honest on each store.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.node_server import RunningNode, SeededNode, deidentified_instance, running_node, stow_body
from tests.support.node_store import store_kind


def _stow(node: RunningNode, token: str, path: Path, biobank: str = "test-bb") -> None:
    content_type, body = stow_body([path])
    headers = node.auth(token) | {"Content-Type": content_type}
    response = httpx.post(f"{node.dicomweb_url(biobank)}/studies", content=body, headers=headers)
    assert response.status_code == 200, response.text


def test_every_node_runs_on_the_session_store_and_sees_only_its_own_objects(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    node = seeded_node.node
    assert node.settings.store == store_kind()
    first = deidentified_instance(tmp_path / "first.dcm")
    _stow(node, seeded_node.ingester_token, tmp_path / "first.dcm")
    (key,) = node.stored_objects()
    assert key.endswith(f"/{first.SOPInstanceUID}.dcm")
    with running_node(tmp_path / "other") as other:
        assert other.settings.store == store_kind()
        assert other.stored_objects() == {}
        token = other.add_user("ing", "data-ingester")
        other.create_biobank("bb2", managers=["ing"])
        second = deidentified_instance(tmp_path / "second.dcm")
        _stow(other, token, tmp_path / "second.dcm", "bb2")
        (other_key,) = other.stored_objects()
        uids = (second.StudyInstanceUID, second.SeriesInstanceUID, second.SOPInstanceUID)
        assert other_key == "bb2/{}/{}/{}.dcm".format(*uids)
    from_other = {"_unindexed/{}/{}/{}.dcm".format(*uids)} if store_kind() == "dicomweb" else set()
    # One PACS serves every node: it shows the first node what the second stored, as unindexed.
    assert set(node.stored_objects()) == {key} | from_other


def test_stored_objects_tell_a_rewritten_object_from_an_untouched_one(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    node = seeded_node.node
    deidentified_instance(tmp_path / "i.dcm")
    _stow(node, seeded_node.ingester_token, tmp_path / "i.dcm")
    (before,) = node.stored_objects().values()
    assert node.read_object(before.key) == (tmp_path / "i.dcm").read_bytes()
    time.sleep(1.1)  # S3's LastModified counts seconds
    again = tmp_path / "again.dcm"
    again.write_bytes((tmp_path / "i.dcm").read_bytes())
    node.context.store.put_file(before.key, again)  # the same bytes written over the object
    (after,) = node.stored_objects().values()
    assert (after.key, after.sha256, after.size) == (before.key, before.sha256, before.size)
    if store_kind() == "dicomweb":
        assert after.version == before.version  # a PACS keeps the copy it has: nothing was written
    else:
        assert after.version != before.version


def test_leftovers_show_an_unfinished_write(node_server: RunningNode) -> None:
    assert node_server.leftovers() == []
    kind = store_kind()
    if kind == "filesystem":
        staging = node_server.store_dir / ".staging" / "otherhost-1"
        staging.mkdir(parents=True)
        (staging / "half.tmp").write_bytes(b"half an instance")
        assert node_server.leftovers() == ["otherhost-1/half.tmp"]
    elif kind == "s3":
        store = node_server.context.store
        key = f"{store.prefix}bb/1.2/1.3/1.4.dcm"  # type: ignore[attr-defined]
        store.client.create_multipart_upload(Bucket=store.bucket, Key=key)  # type: ignore[attr-defined]
        assert node_server.leftovers() == [f"unfinished upload {key}"]
    else:
        assert kind == "dicomweb"  # a PACS stores an instance whole or not at all: nothing to find
    assert node_server.stored_objects() == {}
