"""The S3 image store against a real SeaweedFS gateway: write-once, multipart, ranged reads, upkeep."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from eucaim.errors import ConfigError, NotFound, TransientError
from eucaim.node.store.config import MIB, S3StoreSettings
from eucaim.node.store.s3 import S3Store
from eucaim.node.store.write_once import place_once
from tests.support.seaweedfs import SeaweedS3


def _store(seaweedfs: SeaweedS3, bucket: str, **overrides: object) -> S3Store:
    values: dict[str, object] = {
        "endpoint_url": seaweedfs.endpoint_url,
        "bucket": bucket,
        "prefix": "node-a",
        "access_key_id": seaweedfs.access_key,
        "secret_access_key": seaweedfs.secret_key,
    }
    return S3Store(S3StoreSettings(**(values | overrides)))  # type: ignore[arg-type]


def _file(path: Path, content: bytes) -> tuple[Path, str]:
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_put_new_writes_once_and_reads_back_streamed(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(seaweedfs, s3_bucket)
    source, sha = _file(tmp_path / "a", b"first bytes" * 1000)
    assert store.put_new("bb/1.2/1.3/1.4.dcm", source, sha256=sha)
    assert not source.exists()  # consumed
    # Under the prefix, so several nodes can share a bucket.
    listed = seaweedfs.client().list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["node-a/bb/1.2/1.3/1.4.dcm"]
    assert store.exists("bb/1.2/1.3/1.4.dcm") and store.size("bb/1.2/1.3/1.4.dcm") == 11000

    again, _ = _file(tmp_path / "b", b"first bytes" * 1000)
    assert store.put_new("bb/1.2/1.3/1.4.dcm", again, sha256=sha)  # same bytes: already there
    other, other_sha = _file(tmp_path / "c", b"other bytes")
    assert not store.put_new("bb/1.2/1.3/1.4.dcm", other, sha256=other_sha)  # 412: kept, not replaced
    assert other.exists()
    with store.open("bb/1.2/1.3/1.4.dcm") as f:
        assert f.read() == b"first bytes" * 1000

    # The write-once placement puts the other bytes under their own content key.
    key = place_once(
        store,
        biobank_code="bb",
        study_uid="1.2",
        series_uid="1.3",
        sop_uid="1.4",
        source=other,
        sha256=other_sha,
    )
    assert key == f"bb/1.2/1.3/1.4/{other_sha}.dcm"
    with store.open(key) as f:
        assert f.read() == b"other bytes"


def test_large_objects_go_in_parts_and_are_read_by_ranges(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(seaweedfs, s3_bucket, multipart_threshold=5 * MIB, part_size=5 * MIB)
    content = os.urandom(11 * MIB + 123)
    source, sha = _file(tmp_path / "big", content)
    assert store.put_new("bb/1/2/3.dcm", source, sha256=sha)
    head = seaweedfs.client().head_object(Bucket=s3_bucket, Key="node-a/bb/1/2/3.dcm")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    # A second multipart write of other bytes meets If-None-Match on completion.
    other, other_sha = _file(tmp_path / "big2", os.urandom(6 * MIB))
    assert not store.put_new("bb/1/2/3.dcm", other, sha256=other_sha)
    assert not seaweedfs.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    with store.open("bb/1/2/3.dcm") as f:
        f.seek(10 * MIB)
        assert f.read(1000) == content[10 * MIB : 10 * MIB + 1000]
        f.seek(-5, os.SEEK_END)
        assert f.read() == content[-5:]
        f.seek(0)
        assert hashlib.sha256(f.read()).hexdigest() == sha


def test_missing_objects_and_keys_that_leave_the_prefix(seaweedfs: SeaweedS3, s3_bucket: str) -> None:
    store = _store(seaweedfs, s3_bucket)
    assert not store.exists("bb/9/9/9.dcm")
    with pytest.raises(NotFound, match="missing from the image store"):
        store.open("bb/9/9/9.dcm")
    with pytest.raises(NotFound):
        store.size("bb/9/9/9.dcm")
    store.delete("bb/9/9/9.dcm")  # absent is fine
    with pytest.raises(ValueError, match="leaves the store"):
        store.exists("../other-node/x.dcm")


def test_health_check_and_unreachable_or_unknown_bucket(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    _store(seaweedfs, s3_bucket).check()
    with pytest.raises(TransientError, match="no-such-bucket is not writable: 404"):
        _store(seaweedfs, "no-such-bucket").check()
    wrong_key = _store(seaweedfs, s3_bucket, secret_access_key="wrong-secret-value")
    with pytest.raises(TransientError) as raised:
        wrong_key.check()
    assert "wrong-secret-value" not in str(raised.value)
    assert "wrong-secret-value" not in repr(wrong_key) + repr(wrong_key.settings)
    source, sha = _file(tmp_path / "x", b"x")
    dead = _store(seaweedfs, s3_bucket, endpoint_url="http://127.0.0.1:9")
    dead.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(TransientError, match="could not write object"):
        dead.put_new("bb/1/2/3.dcm", source, sha256=sha)
    assert source.exists()  # not consumed: the caller can retry


def test_a_store_without_a_bucket_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="EUCAIM_NODE_S3_BUCKET"):
        S3Store(S3StoreSettings(bucket=None))


def test_leftover_multipart_uploads_are_aborted_at_start(seaweedfs: SeaweedS3, s3_bucket: str) -> None:
    client = seaweedfs.client()
    client.create_multipart_upload(Bucket=s3_bucket, Key="node-a/bb/1/2/killed.dcm")
    client.create_multipart_upload(Bucket=s3_bucket, Key="node-b/bb/1/2/other-node.dcm")
    store = _store(seaweedfs, s3_bucket)
    assert store.remove_leftovers(now=time.time()) == 0  # young: a live worker may own it
    assert store.remove_leftovers(now=time.time() + 2 * 86400) == 1
    remaining = [u["Key"] for u in client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])]
    assert remaining == ["node-b/bb/1/2/other-node.dcm"]


def test_credentials_from_an_aws_style_file(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[node]\naws_access_key_id = {seaweedfs.access_key}\n"
        f"aws_secret_access_key = {seaweedfs.secret_key}\n"
    )
    settings = S3StoreSettings(
        endpoint_url=seaweedfs.endpoint_url, bucket=s3_bucket, credentials_file=credentials, profile="node"
    )
    S3Store(settings).check()
    credentials.write_text("[node]\naws_access_key_id = someone\naws_secret_access_key = not-the-secret\n")
    with pytest.raises(TransientError, match="not writable") as raised:
        S3Store(settings).check()
    assert "not-the-secret" not in str(raised.value)
