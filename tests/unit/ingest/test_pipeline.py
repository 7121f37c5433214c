"""The push pipeline against an in-memory target: completes, resumes, never duplicates."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from eucaim.dicom.synthetic import Cohort, generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.base import OutgoingInstance
from eucaim.ingest.upload.memory import MemoryTarget
from eucaim.ingest.workspace import Workspace

OPTIONS = PushOptions(workers=2, concurrency=2, batch_bytes=200_000)


@pytest.fixture
def cohort(tmp_path: Path) -> Cohort:
    return generate_cohort(tmp_path / "cohort", patients=2, slices=(2, 3))


@pytest.fixture
def ws(tmp_path: Path, cohort: Cohort) -> Workspace:
    ws = Workspace.create(tmp_path / "ws", NodeConfig(url="http://127.0.0.1:1", biobank="B"), token="t0ken")
    scan_paths(ws.state, [cohort.root])
    return ws


def test_push_sends_everything_once_and_verifies(ws: Workspace, cohort: Cohort) -> None:
    target = MemoryTarget()
    summary = push(ws, target, OPTIONS)
    assert summary.ok
    assert summary.verified_totals["instances"] == len(cohort.files)
    stored = {uid for series in target.store.values() for uid in series}
    assert len(stored) == len(cohort.files)
    # What reached the target is de-identified and carries no original patient ID.
    originals = {p.patient_id for p in cohort.patients}
    for series in target.store.values():
        for blob in series.values():
            assert not any(pid.encode() in blob for pid in originals)
    # The outbox is emptied once the node has verified the copies.
    assert not list(ws.outbox.iterdir())
    assert Path(summary.report_json or "").is_file()


def test_second_push_does_nothing(ws: Workspace) -> None:
    target = MemoryTarget()
    push(ws, target, OPTIONS)
    requests = target.requests
    again = push(ws, target, OPTIONS)
    assert again.ok and again.nothing_to_do
    assert target.requests == requests


def test_refused_instances_are_quarantined_with_the_node_reason(ws: Workspace, cohort: Cohort) -> None:
    refused_one: list[str] = []

    def fail(item: OutgoingInstance) -> str | None:
        if not refused_one:
            refused_one.append(item.sop_instance_uid)
        return (
            "SOP class not supported by the node (0x0122)" if item.sop_instance_uid in refused_one else None
        )

    summary = push(ws, MemoryTarget(fail=fail), OPTIONS)
    assert not summary.ok
    assert summary.counts["quarantined"] == 1
    assert summary.counts["verified"] == len(cohort.files) - 1
    row = ws.state.instances([InstanceState.QUARANTINED])[0]
    assert row.reason == "refused_by_node" and "0x0122" in (row.last_error or "")


def test_after_a_crash_between_send_and_record_nothing_is_sent_twice(ws: Workspace) -> None:
    # First run de-identifies and sends; then pretend the process died before recording "sent".
    target = MemoryTarget()
    push(ws, target, PushOptions(workers=1, concurrency=1, batch_bytes=200_000, keep_outbox=True))
    with ws.state.transaction() as conn:
        conn.execute("UPDATE instances SET state='deidentified'")
    requests = target.requests
    summary = push(ws, target, OPTIONS)
    assert summary.ok
    assert target.requests == requests  # reconciled over QIDO, nothing re-sent
    assert summary.already_on_node == len(ws.state.instances())


def test_deidentification_is_deterministic_across_workspaces_with_one_secret(
    tmp_path: Path, cohort: Cohort
) -> None:
    results = []
    for name in ("a", "b"):
        ws = Workspace.create(tmp_path / name, NodeConfig(url="http://127.0.0.1:1", biobank="B"), token="t")
        (ws.path / "secret.key").write_bytes(b"0123456789abcdef0123456789abcdef\n")
        scan_paths(ws.state, [cohort.root])
        target = MemoryTarget()
        push(ws, target, OPTIONS)
        results.append(target.store)
    assert results[0] == results[1]


def test_unreadable_source_at_push_time_is_quarantined(ws: Workspace, cohort: Cohort) -> None:
    victim = cohort.files[0]
    ds = pydicom.dcmread(victim)
    victim.unlink()
    summary = push(ws, MemoryTarget(), OPTIONS)
    assert summary.counts["quarantined"] == 1
    row = ws.state.instances([InstanceState.QUARANTINED])[0]
    assert row.reason == "source_missing"
    assert row.sop_uid == ds.SOPInstanceUID


def test_outside_the_time_window_sending_waits_for_it(ws: Workspace) -> None:
    from datetime import datetime

    from eucaim.ingest.pipeline.pacing import TimeWindow

    slept: list[float] = []
    options = PushOptions(
        workers=1, concurrency=1, batch_bytes=10_000_000, window=TimeWindow.parse("22:00-06:00")
    )
    summary = push(ws, MemoryTarget(), options, now=lambda: datetime(2026, 3, 1, 21, 0), sleep=slept.append)
    assert summary.ok
    assert slept and all(s == 3600 for s in slept)


def test_a_second_push_on_the_same_workspace_is_refused_while_one_runs(ws: Workspace) -> None:
    from eucaim.errors import StateError

    busy = r"eucaim-ingest push \(pid \d+\) is using workspace"
    with ws.exclusive("eucaim-ingest push"), pytest.raises(StateError, match=busy):
        push(ws, MemoryTarget(), OPTIONS)
    assert push(ws, MemoryTarget(), OPTIONS).ok  # released: the next push runs


def test_push_records_every_patient_in_the_vault(ws: Workspace, cohort: Cohort) -> None:
    from eucaim.deid.vault import Vault

    push(ws, MemoryTarget(), OPTIONS)
    entries = Vault(ws.vault_path, ws.secret).export(authorised=True)
    assert {e.original_patient_id for e in entries} == {p.patient_id for p in cohort.patients}
    pseudonyms = {r.pseudonym for r in ws.state.instances()}
    assert {e.pseudonym for e in entries} == pseudonyms
    # The file on disk does not hold the originals in clear.
    blob = ws.vault_path.read_bytes()
    assert not any(p.patient_id.encode() in blob for p in cohort.patients)


def test_resends_also_wait_for_the_time_window(ws: Workspace) -> None:
    from datetime import datetime

    from eucaim.ingest.pipeline.pacing import TimeWindow
    from eucaim.ingest.upload.base import SendResult

    class ForgetfulFirstTime(MemoryTarget):
        """Answers the first request without mentioning any instance, so they are sent again."""

        def send(self, study_uid: str, batch: list[OutgoingInstance]) -> SendResult:  # type: ignore[override]
            if self.requests == 0:
                self.requests += 1
                return SendResult()
            return super().send(study_uid, batch)

    slept: list[float] = []
    target = ForgetfulFirstTime()
    options = PushOptions(
        workers=1, concurrency=1, batch_bytes=10_000_000, window=TimeWindow.parse("22:00-06:00")
    )
    summary = push(ws, target, options, now=lambda: datetime(2026, 3, 1, 21, 0), sleep=slept.append)
    assert summary.ok
    assert target.requests > 1
    assert len(slept) == target.requests  # every request, resends included, waited for the window
