"""`eucaim-ingest demo --serve` leaves the node portal and the Data Ingestion UI running until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_serve_prints_both_applications_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", "demo", "--patients", "2",
         "--base", str(tmp_path), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    portal = ui = None
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline and ui is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if m := re.search(r"node portal: (http://\S+/portal/)", line):
                portal = m.group(1)
            if m := re.search(r"Data Ingestion tool: (http://\S+)", line):
                ui = m.group(1)
        assert portal and ui, "".join(lines)[-3000:]
        assert "the flow passed" in "".join(lines)
        for _ in range(50):  # the UI server starts right after printing its link
            try:
                page = httpx.get(ui, follow_redirects=True, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert page.status_code == 200
        catalogue = httpx.get(portal, timeout=10)
        assert catalogue.status_code == 200 and "Demo lung cohort" in catalogue.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
