"""A real Orthanc PACS (Debian package, DICOMweb plugin) started per test session on free ports.

Orthanc plays the hospital PACS (C-ECHO, C-FIND, C-GET, C-MOVE source) and a DICOMweb target.

Register the fixtures once in ``tests/conftest.py``::

    pytest_plugins = ["tests.support.orthanc"]

then ask for them in a test::

    @pytest.mark.integration
    def test_something(orthanc_clean: OrthancServer, tmp_path: Path) -> None:
        orthanc_clean.upload([tmp_path / "a.dcm"])
        assert orthanc_clean.count() == 1

- ``orthanc`` (session): one server for the whole session; tests see each other's instances.
- ``orthanc_clean`` (function): the same server, emptied via REST before the test.

The yielded :class:`OrthancServer` carries the HTTP and DICOMweb URLs, Basic-auth credentials,
Orthanc's own AE title and DICOM port, and a DICOM modality registered on Orthanc for us:
``receiver_aet`` at ``127.0.0.1:receiver_port``. That AE is allowed every DIMSE operation (use
it as the calling AE for C-FIND/C-GET/C-MOVE), and ``receiver_port`` is a free port nobody
listens on until a test starts its own C-STORE receiver there (the C-MOVE destination). Any
other calling AE title is unknown to Orthanc, which then refuses C-FIND/C-GET/C-MOVE, as a
hospital PACS does for an unregistered AE.

Orthanc runs with ``TCP_NODELAY=1`` in its environment (read by its DCMTK), so instances it
sends by C-GET/C-MOVE do not each wait ~40 ms for a delayed ACK (200 instances: 9 s → 0.7 s).

When ``/usr/sbin/Orthanc`` or the DICOMweb plugin is missing, tests using the fixture skip with
the reason, except in CI (``CI=true``), where they fail: install the Debian packages
``orthanc orthanc-dicomweb``.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_AET = "ORTHANC"
RECEIVER_AET = "EUCAIMRCV"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class OrthancServer:
    """A running Orthanc and the modality it knows us by."""

    http_url: str
    dicomweb_url: str
    username: str
    password: str
    aet: str
    dicom_port: int
    receiver_aet: str
    receiver_port: int
    host: str = "127.0.0.1"

    def client(self) -> httpx.Client:
        """Return an authenticated REST client (close it, or use it as a context manager)."""
        return httpx.Client(base_url=self.http_url, auth=(self.username, self.password), timeout=60.0)

    def upload(self, paths: Iterable[Path]) -> list[str]:
        """Store files through REST ``POST /instances``; return Orthanc's status per file.

        The status is ``"Success"`` or ``"AlreadyStored"`` (``OverwriteInstances`` is false).
        """
        statuses: list[str] = []
        with self.client() as client:
            for path in paths:
                response = client.post("/instances", content=Path(path).read_bytes())
                response.raise_for_status()
                statuses.append(str(response.json()["Status"]))
        return statuses

    def instances(self) -> list[str]:
        """Return the SOPInstanceUIDs of every instance Orthanc holds, sorted."""
        with self.client() as client:
            response = client.get("/instances", params={"expand": ""})
            response.raise_for_status()
            return sorted(str(item["MainDicomTags"]["SOPInstanceUID"]) for item in response.json())

    def count(self) -> int:
        """Return how many instances Orthanc holds."""
        with self.client() as client:
            response = client.get("/statistics")
            response.raise_for_status()
            return int(response.json()["CountInstances"])

    def clear(self) -> None:
        """Delete every patient (and so every instance) Orthanc holds."""
        with self.client() as client:
            response = client.get("/patients")
            response.raise_for_status()
            for patient_id in response.json():
                client.delete(f"/patients/{patient_id}").raise_for_status()


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require_orthanc() -> None:
    missing = [str(p) for p in (ORTHANC_BINARY, DICOMWEB_PLUGIN) if not p.exists()]
    if not missing:
        return
    reason = (
        f"Orthanc is not installed ({', '.join(missing)} missing): apt-get install orthanc orthanc-dicomweb"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


def _write_config(config_dir: Path, storage_dir: Path, server: OrthancServer, http_port: int) -> None:
    config = {
        "Name": "eucaim-test-pacs",
        "StorageDirectory": str(storage_dir),
        "IndexDirectory": str(storage_dir),
        "StorageCompression": False,
        "HttpPort": http_port,
        "DicomPort": server.dicom_port,
        "DicomAet": server.aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {server.username: server.password},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "Host": f"{server.host}:{http_port}",
            "Ssl": False,
        },
        "DicomModalities": {server.receiver_aet: [server.receiver_aet, server.host, server.receiver_port]},
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "OverwriteInstances": False,
        # Orthanc otherwise keeps its outgoing association open 5 s after a C-MOVE, which would
        # make every receiver test wait for it.
        "DicomAssociationCloseDelay": 0,
        "DicomScuTimeout": 30,
        "SaveJobs": False,
        "HttpThreadsCount": 20,
        "ConcurrentJobs": 2,
        "HttpDescribeErrors": True,
    }
    (config_dir / "orthanc.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _wait_until_up(server: OrthancServer, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with code {process.returncode}:\n{_tail(log_path)}")
        try:
            with server.client() as client:
                if client.get("/system", timeout=1.0).status_code == 200:
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Orthanc did not answer /system within {STARTUP_TIMEOUT_S} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no Orthanc output)"


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM Orthanc if pytest itself is killed."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the fixture's own teardown still stops it


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Start one real Orthanc for the session and stop it by PID afterwards."""
    _require_orthanc()
    root = tmp_path_factory.mktemp("orthanc")
    config_dir, storage_dir = root / "config", root / "storage"
    config_dir.mkdir()
    storage_dir.mkdir()
    http_port = free_port()
    server = OrthancServer(
        http_url=f"http://127.0.0.1:{http_port}",
        dicomweb_url=f"http://127.0.0.1:{http_port}/dicom-web",
        username="eucaim-test",
        password=secrets.token_urlsafe(16),
        aet=ORTHANC_AET,
        dicom_port=free_port(),
        receiver_aet=RECEIVER_AET,
        receiver_port=free_port(),
    )
    _write_config(config_dir, storage_dir, server, http_port)
    log_path = root / "orthanc.log"
    with log_path.open("wb") as log:
        # Popen on the binary itself (no shell), so process.pid is Orthanc's own PID.
        process = subprocess.Popen(
            [str(ORTHANC_BINARY), "--no-jobs", str(config_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            # DCMTK inside Orthanc leaves Nagle's algorithm on unless told: every instance it sends
            # by C-GET/C-MOVE would then wait ~40 ms for a delayed ACK.
            env={**os.environ, "TCP_NODELAY": "1"},
            preexec_fn=_die_with_parent,
        )
    try:
        _wait_until_up(server, process, log_path)
        yield server
    finally:
        _stop(process)


@pytest.fixture
def orthanc_clean(orthanc: OrthancServer) -> OrthancServer:
    """The session's Orthanc, emptied of every instance before the test."""
    orthanc.clear()
    return orthanc
