"""`eucaim-ingest demo` runs the whole flow on an embedded node and says what arrived."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_transfers_a_cohort_without_leaking_identities(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", "demo", "--patients", "4",
         "--base", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "demo passed" in out
    assert "original patient names or IDs on the node: none" in out
    assert "4 patient(s) linked" in out
    assert "no patient, pseudonym or UID in the public entry: yes" in out
    # Every step is narrated, so a person can follow what happened.
    for step in ("1. accounts", "2. start eucaim-node", "3. synthetic cohort", "4. eucaim-ingest",
                 "5. clinical data", "6. what", "7. dataset", "8. the public catalogue"):  # fmt: skip
        assert step in out
    assert elapsed < 120
    # The node was stopped: nothing is left listening from the demo's data folder.
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == ""
