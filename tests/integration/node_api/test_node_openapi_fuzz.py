"""The node's OpenAPI schema survives a schemathesis run: no generated request gets a 5xx.

Runs the real `schemathesis` CLI against a node on loopback, as an admin (who reaches the most
code), with a fixed seed so a failure is reproducible. STOW-RS bodies are multipart/related
DICOM, which schemathesis cannot generate; STOW has its own tests with malformed bodies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.node_server import SeededNode

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_no_server_errors_on_generated_requests(seeded_node: SeededNode, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [
            str(st), "run", f"{seeded_node.url}/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization: Bearer {seeded_node.admin_token}",
            "--max-examples", "5",
            "--seed", "7",
            "--exclude-name-regex", "^POST .*/dicom-web/studies",
            "--request-timeout", "30",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
        check=False,
    )  # fmt: skip
    report = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, report
    assert "Server error" not in proc.stdout, report
