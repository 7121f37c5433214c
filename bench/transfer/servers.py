"""The two receivers of the transfer benchmark, each run as its own process on free loopback ports.

- ``eucaim-node serve`` with a fresh data folder (SQLite, filesystem store), one user, and a new
  biobank per measurement so no run sees another's instances.
- Orthanc from Debian with the DICOMweb plugin. The configuration follows
  tests/support/orthanc.py (copied, not imported: that module is a pytest plugin), with two
  differences: no authentication (loopback only), and the DICOMweb root served at
  ``/biobanks/orthanc/dicom-web/`` so ``eucaim-ingest push`` reaches Orthanc with an unchanged
  workspace config (it builds ``{node}/biobanks/{biobank}/dicom-web``; Orthanc ignores our
  bearer token).

Each server's CPU time is read from /proc before and after a measurement, so its ingest cost per
instance is known even when the client shares the machine.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import ROOT

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_AET = "ORTHANC"
ORTHANC_BIOBANK = "orthanc"
NODE_USER = "bench"
NODE_CLI = str(ROOT / ".venv/bin/eucaim-node")


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux sends it SIGTERM if the benchmark dies first."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its reaped children so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class NodeServer:
    """``eucaim-node serve`` in a child process."""

    root: Path
    url: str = ""
    token: str = ""
    process: subprocess.Popen[bytes] | None = None
    _biobanks: int = 0

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [NODE_CLI, *args, "--data", str(self.root / "data")],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def start(self) -> NodeServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = self._cli("user", "add", NODE_USER, "--role", "data-ingester").strip().splitlines()[-1]
        port = free_port()
        log = self.root / "node.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/eucaim-node"),
                    "serve",
                    "--data",
                    str(self.root / "data"),
                    "--port",
                    str(port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.url = f"http://127.0.0.1:{port}"
        _wait_http(self.url + "/health", self.process, log)
        return self

    def new_biobank(self) -> str:
        """A fresh, empty biobank managed by the bench user; returns its code."""
        self._biobanks += 1
        code = f"bench{self._biobanks}"
        self._cli("biobank", "create", code, "--name", code, "--manager", NODE_USER)
        return code

    def dicomweb_url(self, biobank: str) -> str:
        return f"{self.url}/biobanks/{biobank}/dicom-web"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


@dataclass
class OrthancServer:
    """Orthanc with the DICOMweb plugin in a child process, no authentication, loopback only."""

    root: Path
    http_port: int = 0
    dicom_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/biobanks/{ORTHANC_BIOBANK}/dicom-web"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> OrthancServer:
        missing = [str(p) for p in (ORTHANC_BINARY, DICOMWEB_PLUGIN) if not p.exists()]
        if missing:
            raise RuntimeError(f"missing {missing}: apt-get install orthanc orthanc-dicomweb")
        config_dir, storage = self.root / "config", self.root / "storage"
        config_dir.mkdir(parents=True, exist_ok=True)
        storage.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port = free_port(), free_port()
        config = {
            "Name": "eucaim-bench",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "StorageCompression": False,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ORTHANC_AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {
                "Enable": True,
                "Root": f"/biobanks/{ORTHANC_BIOBANK}/dicom-web/",
                "EnableWado": True,
                "Host": f"127.0.0.1:{self.http_port}",
                "Ssl": False,
            },
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomCheckCalledAet": False,
            "OverwriteInstances": False,
            "DicomAssociationCloseDelay": 0,
            "SaveJobs": False,
            "HttpThreadsCount": 20,
            "HttpDescribeErrors": True,
        }
        (config_dir / "orthanc.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        log = self.root / "orthanc.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(ORTHANC_BINARY), "--no-jobs", str(config_dir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env={**os.environ, "TCP_NODELAY": "1"},
                preexec_fn=_die_with_parent,
            )
        _wait_http(self.url + "/system", self.process, log)
        return self

    def count(self) -> int:
        response = httpx.get(self.url + "/statistics", timeout=30)
        response.raise_for_status()
        return int(response.json()["CountInstances"])

    def clear(self) -> None:
        with httpx.Client(base_url=self.url, timeout=300) as client:
            for patient in client.get("/patients").json():
                client.delete(f"/patients/{patient}").raise_for_status()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
