"""``eucaim-node store migrate --from fs --to s3``: verified copies, a kill mid-run, reruns, failures."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.node_server import fill_biobank, running_node
from tests.support.orthanc import OrthancServer
from tests.support.seaweedfs import SeaweedS3

NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]
COUNT = 120


def _env(seaweedfs: SeaweedS3, bucket: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EUCAIM_NODE_", "AWS_"))}
    return base | seaweedfs.node_settings(bucket) | {"EUCAIM_NODE_STORE": "filesystem"}


def _migrate(data: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [*NODE, "store", "migrate", "--from", "fs", "--to", "s3", "--data", str(data)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _fill_node(data: Path, tmp_path: Path, count: int = COUNT) -> dict[str, str]:
    """Store ``count`` instances in a filesystem node; return storage key -> sha256 of each."""
    with running_node(data) as node:
        return fill_biobank(node, tmp_path / "in", count)


def _counts(summary: str) -> tuple[int, int]:
    """Return (copied, already there) from the command's summary line."""
    found = re.search(r"(\d+) object\(s\) copied .*?, (\d+) already in", summary)
    assert found, summary
    return int(found[1]), int(found[2])


def _bucket_digests(seaweedfs: SeaweedS3, bucket: str) -> dict[str, str]:
    client = seaweedfs.client()
    digests = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            digests[obj["Key"]] = hashlib.sha256(body).hexdigest()
    return digests


def test_migration_killed_midway_resumes_verifies_and_is_idempotent(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "node"
    indexed = _fill_node(data, tmp_path)
    env = _env(seaweedfs, s3_bucket)

    def copied() -> int:
        """Return how many objects the migration job's row says it copied (0 before it exists)."""
        with contextlib.closing(sqlite3.connect(data / "node.db", timeout=10)) as db:
            row = db.execute("SELECT state FROM node_jobs WHERE kind = 'store-migration'").fetchone()
        return int(json.loads(row[0]).get("copied", 0)) if row else 0

    # Niced, so that on a busy machine this test's polling still sees it midway.
    process = subprocess.Popen(
        ["nice", "-n", "19", *NODE, "store", "migrate", "--from", "fs", "--to", "s3", "--data", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if copied() >= 5:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL
    done_before = copied()
    assert 5 <= done_before < COUNT, "the migration ended before the kill"

    resumed = _migrate(data, env)
    assert resumed.returncode == 0, resumed.stderr
    copied, present = _counts(resumed.stdout)
    # The kill may land between a put and its progress record: that object is found and verified.
    assert copied + present == COUNT and present <= 1
    assert "0 failed" in resumed.stdout and "migration complete" in resumed.stdout
    assert _bucket_digests(seaweedfs, s3_bucket) == indexed  # every object, the bytes its row names

    again = _migrate(data, env)  # nothing new: nothing written again
    assert again.returncode == 0 and _counts(again.stdout) == (copied, present)

    # The operator's switch: the same node, configured for S3, serves the migrated objects.
    for name, value in seaweedfs.node_settings(s3_bucket).items():
        monkeypatch.setenv(name, value)
    with running_node(data) as node:
        assert type(node.context.store).__name__ == "S3Store"
        study = next(iter(indexed)).split("/")[1]
        admin = node.add_user("admin", "admin")
        metadata = httpx.get(f"{node.dicomweb_url('bb')}/studies/{study}/metadata", headers=node.auth(admin))
        assert metadata.status_code == 200 and len(metadata.json()) == COUNT


def test_a_damaged_source_object_fails_clearly_and_a_rerun_after_repair_completes(
    seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    data = tmp_path / "node"
    indexed = _fill_node(data, tmp_path)
    env = _env(seaweedfs, s3_bucket)
    damaged_key = sorted(indexed)[3]
    damaged = data / "store" / damaged_key
    original = damaged.read_bytes()
    damaged.write_bytes(original[:-10] + b"0123456789")

    failed = _migrate(data, env)
    assert failed.returncode == 1
    assert f"{COUNT - 1} object(s) copied" in failed.stdout and "1 failed" in failed.stdout
    assert "differs from its index row" in failed.stderr and "migration incomplete" in failed.stderr
    assert damaged_key not in _bucket_digests(seaweedfs, s3_bucket)

    damaged.write_bytes(original)
    repaired = _migrate(data, env)
    assert repaired.returncode == 0, repaired.stderr
    assert _bucket_digests(seaweedfs, s3_bucket) == indexed


def test_same_store_or_unknown_store_is_refused(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    same = subprocess.run(
        [*NODE, "store", "migrate", "--from", "fs", "--to", "filesystem", "--data", str(tmp_path)],
        capture_output=True, text=True, env=base, timeout=60,
    )  # fmt: skip
    assert same.returncode == 2 and "same store" in same.stderr
    unknown = subprocess.run(
        [*NODE, "store", "migrate", "--from", "fs", "--to", "ftp", "--data", str(tmp_path)],
        capture_output=True, text=True, env=base, timeout=60,
    )  # fmt: skip
    assert unknown.returncode == 1 and "unknown image store 'ftp'" in unknown.stderr
    no_bucket = subprocess.run(
        [*NODE, "store", "migrate", "--from", "fs", "--to", "s3", "--data", str(tmp_path)],
        capture_output=True, text=True, env=base, timeout=60,
    )  # fmt: skip
    assert no_bucket.returncode == 1 and "EUCAIM_NODE_S3_BUCKET" in no_bucket.stderr


def test_migration_into_a_pacs_then_the_node_serves_from_it(
    orthanc_clean: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "node"
    indexed = _fill_node(data, tmp_path, count=12)
    pacs = {
        "EUCAIM_NODE_DICOMWEB_STORE_URL": orthanc_clean.dicomweb_url,
        "EUCAIM_NODE_DICOMWEB_STORE_USERNAME": orthanc_clean.username,
        "EUCAIM_NODE_DICOMWEB_STORE_PASSWORD": orthanc_clean.password,
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    command = [*NODE, "store", "migrate", "--from", "fs", "--to", "dicomweb", "--data", str(data)]
    done = subprocess.run(command, capture_output=True, text=True, env=base | pacs, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "12 object(s) copied" in done.stdout and orthanc_clean.count() == 12
    assert orthanc_clean.password not in done.stdout + done.stderr

    for name, value in (pacs | {"EUCAIM_NODE_STORE": "dicomweb"}).items():
        monkeypatch.setenv(name, value)
    with running_node(data) as node:
        for key, sha in indexed.items():
            with node.context.store.open(key) as f:
                assert hashlib.sha256(f.read()).hexdigest() == sha
