"""`eucaim-ingest receive` as a process: a dcmtk storescu burst lands indexed, SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from eucaim.ingest.config import NodeConfig
from eucaim.ingest.workspace import Workspace
from tests.integration.sources.studies import write_instance
from tests.support.orthanc import free_port

pytestmark = pytest.mark.e2e

AET = "EUCAIMRX"


def require_storescu() -> str:
    path = shutil.which("storescu")
    if path is None:
        pytest.skip("dcmtk's storescu is not installed: apt-get install dcmtk")
    return path


class Receiving:
    """``eucaim-ingest -v receive`` as a process, its output going to files.

    Not pipes: ``-v`` logs a DEBUG line per instance, and a pipe read only at the end fills up
    (64 KiB) after a few hundred instances, blocking the receiver mid-burst.
    """

    def __init__(self, ws: Path, args: tuple[str, ...], logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = logs / "stdout.txt", logs / "stderr.txt"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            # -v logs at DEBUG, so the test also shows that no patient value reaches the log.
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", "-v", "receive", *args,
                 "--workspace", str(ws)],
                stdout=out,
                stderr=err,
                text=True,
                env={**os.environ, "COLUMNS": "200"},
            )  # fmt: skip

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def output(self) -> tuple[str, str]:
        return self.out_path.read_text(), self.err_path.read_text()

    def communicate(self, timeout: float) -> tuple[str, str]:
        """Wait for the process to end; return its stdout and stderr."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        return self.output()


def wait_for_port(port: int, receiving: Receiving, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if receiving.process.poll() is not None:
            raise AssertionError(f"receive exited early: {receiving.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("receive did not start listening")


def start_receive(ws: Path, *args: str) -> Receiving:
    return Receiving(ws, args, ws.parent / f"receive-logs-{time.monotonic_ns()}")


def storescu(port: int, folder: Path, calling: str = "PACS") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_storescu(), "-aet", calling, "-aec", AET, "+sd", "127.0.0.1", str(port), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # Debian's dcmtk leaves Nagle's algorithm on unless told (each file would wait ~40 ms).
        env={**os.environ, "TCP_NODELAY": "1"},
    )


def write_study(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    study, series = str(generate_uid()), str(generate_uid())
    return [
        write_instance(folder / f"{n:03d}.dcm", patient_id="RXPAT", accession="RXACC", study_uid=study,
                       series_uid=series, study_date="20240101", modality="CT", number=n)
        for n in range(count)
    ]  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    with Workspace.create(ws, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"):
        pass
    return ws


def test_receive_indexes_a_storescu_burst_until_sigterm(workspace: Path, tmp_path: Path) -> None:
    # 600: past the ~60-500 instances where a piped DEBUG log used to fill up and hang the receiver.
    uids = write_study(tmp_path / "send", 600)
    port = free_port()
    process = start_receive(workspace, "--ae-title", AET, "--port", str(port), "--bind", "127.0.0.1",
                            "--allow-aet", "PACS")  # fmt: skip
    try:
        wait_for_port(port, process)
        sent = storescu(port, tmp_path / "send")
        refused = storescu(port, tmp_path / "send", calling="INTRUDER")
    finally:
        process.process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)

    assert sent.returncode == 0, sent.stderr
    assert refused.returncode != 0  # not an allowed sender
    assert process.returncode == 0, err
    assert f"receiving as AE title {AET} on 127.0.0.1:{port}, accepting only PACS" in out
    assert "stopped: 600 instances received, 600 indexed" in out
    assert "RXPAT" not in out + err and "RXACC" not in out + err
    assert "stored one instance" in err  # DEBUG logging was on
    assert not any(uid in err for uid in uids)
    with Workspace.open(workspace) as ws:
        assert sorted(r.sop_uid for r in ws.state.instances()) == sorted(uids)
        assert all(
            Path(r.path).parent == workspace.absolute() / "incoming" / "received"
            for r in ws.state.instances()
        )


def test_receive_on_a_busy_port_fails_with_a_hint(workspace: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = start_receive(workspace, "--ae-title", AET, "--port", str(port), "--bind", "127.0.0.1")
        _out, err = process.communicate(timeout=30)

    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "choose a free port" in err


def test_receive_without_ae_title_or_port_says_where_to_set_them(workspace: Path) -> None:
    process = start_receive(workspace)
    _out, err = process.communicate(timeout=30)

    assert process.returncode == 1
    assert "needs an AE title and a port" in err
    assert "--receiver-port" in err
