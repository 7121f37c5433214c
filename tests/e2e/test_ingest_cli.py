"""The eucaim-ingest commands as a data manager runs them, against a real node."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import generate_cohort, write_malformed_examples
from tests.support.node_server import SeededNode

pytestmark = pytest.mark.e2e


def ingest(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_init_scan_push_status_and_a_second_push(seeded_node: SeededNode, tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=2, slices=(2, 3))
    bad = write_malformed_examples(cohort.root / "junk")
    ws = tmp_path / "ws"

    init = ingest("init", "--node", seeded_node.url, "--biobank", "test-bb",
                  "--token", seeded_node.ingester_token, ws=ws)  # fmt: skip
    assert init.returncode == 0, init.stderr
    secret = ws / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((ws / "token").stat().st_mode) == 0o600

    scan = ingest("scan", str(cohort.root), ws=ws)
    assert scan.returncode == 0, scan.stderr
    assert f"{len(cohort.files)} new" in scan.stdout
    for name in ("truncated", "not_dicom", "unreadable", "empty"):
        assert bad[name].name in scan.stdout

    push = ingest("push", ws=ws)
    assert push.returncode == 0, push.stdout + push.stderr
    assert "verified on node" in push.stdout
    assert f"{len(cohort.files)} sent" in push.stdout

    again = ingest("push", ws=ws)
    assert again.returncode == 0
    assert f"nothing to do: all {len(cohort.files)} instances are already verified" in again.stdout

    status = ingest("status", "--by", "patient", ws=ws)
    assert status.returncode == 0
    assert "verified" in status.stdout and "truncated" in status.stdout
    # Per patient, by pseudonym only: original IDs appear only when asked for.
    for patient in cohort.patients:
        assert patient.patient_id not in status.stdout
    revealed = ingest("status", "--by", "patient", "--reveal", ws=ws)
    assert all(p.patient_id in revealed.stdout for p in cohort.patients)

    # The site secret and the token appear in no output and no report.
    secret_text = secret.read_text().strip()
    texts = [r.stdout + r.stderr for r in (init, scan, push, again, status, revealed)]
    texts += [p.read_text() for p in (ws / "reports").iterdir()]
    assert not any(secret_text in t or seeded_node.ingester_token in t for t in texts)


def test_wrong_token_fails_with_what_to_do(seeded_node: SeededNode, tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(2, 2))
    ws = tmp_path / "ws"
    ingest("init", "--node", seeded_node.url, "--biobank", "test-bb", "--token", "not-a-token", ws=ws)
    push = ingest("push", str(cohort.root), ws=ws)
    assert push.returncode == 1
    assert "refused our credentials (401)" in push.stderr
    assert "new API token" in push.stderr


def test_biobank_of_someone_else_is_refused(seeded_node: SeededNode, tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(2, 2))
    ws = tmp_path / "ws"
    ingest("init", "--node", seeded_node.url, "--biobank", "other-bb",
           "--token", seeded_node.ingester_token, ws=ws)  # fmt: skip
    push = ingest("push", str(cohort.root), ws=ws)
    assert push.returncode == 1
    assert "403" in push.stderr and "rights on this biobank" in push.stderr


def test_not_initialised_workspace_says_how_to_start(tmp_path: Path) -> None:
    result = ingest("push", ws=tmp_path / "nowhere")
    assert result.returncode == 1
    assert "eucaim-ingest init" in result.stderr
