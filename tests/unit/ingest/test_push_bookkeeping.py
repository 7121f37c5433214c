"""What a push asks the node and touches on disk beyond sending: only what its guarantees need.

- Before sending, only rows a previous run may have offered to the node are checked by QIDO; a
  first push asks nothing (it cannot have sent anything yet).
- Verification queries run concurrently, and each series is settled from its own answer.
- The outbox clean-up deletes verified copies still present, whatever run verified them, and
  leaves everything else.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import Cohort, generate_cohort
from eucaim.errors import TransientError
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.deid_stage import run_deidentify
from eucaim.ingest.pipeline.events import Event, Stage, StageStarted, ignore
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.pipeline.send_stage import run_verify
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.db import StateDB
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.base import OutgoingInstance, SendResult
from eucaim.ingest.upload.memory import MemoryTarget
from eucaim.ingest.workspace import Workspace

OPTIONS = PushOptions(workers=1, concurrency=2, batch_bytes=200_000)
S = InstanceState


class CountingTarget(MemoryTarget):
    """Remembers every QIDO, and whether it came before the first STOW."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str, str, bool]] = []  # (study, series, before any send)

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        self.queries.append((study_uid, series_uid, self.requests == 0))
        return super().list_instances(study_uid, series_uid)


@pytest.fixture
def cohort(tmp_path: Path) -> Cohort:
    return generate_cohort(tmp_path / "cohort", patients=2, slices=(2, 3))


@pytest.fixture
def ws(tmp_path: Path, cohort: Cohort) -> Workspace:
    """A workspace whose instances are all de-identified but were never offered to a node."""
    ws = Workspace.create(tmp_path / "ws", NodeConfig(url="http://127.0.0.1:1", biobank="B"), token="t0ken")
    scan_paths(ws.state, [cohort.root])
    run_deidentify(ws, ws.state.instances([S.PENDING]), workers=1, on_event=ignore)
    assert ws.state.counts_by_state()[S.DEIDENTIFIED] == len(cohort.files)
    return ws


def _series(ws: Workspace) -> set[tuple[str, str]]:
    return {(r.out_study_uid or "", r.out_series_uid or "") for r in ws.state.instances()}


def test_a_first_push_asks_the_node_nothing_before_sending(ws: Workspace, cohort: Cohort) -> None:
    target = CountingTarget()
    events: list[Event] = []
    summary = push(ws, target, OPTIONS, on_event=events.append)
    assert summary.ok and summary.already_on_node == 0
    assert [q for q in target.queries if q[2]] == []  # nothing asked before the first STOW
    assert not any(isinstance(e, StageStarted) and e.stage is Stage.RECONCILE for e in events)
    # Verification still asks once per series, and every instance is verified and reported.
    assert sorted((study, series) for study, series, _ in target.queries) == sorted(_series(ws))
    report = json.loads(Path(summary.report_json or "").read_text(encoding="utf-8"))
    assert len(report["instances"]) == len(cohort.files)
    assert {i["state"] for i in report["instances"]} == {"verified"}


def test_rows_a_killed_push_had_offered_are_checked_and_not_sent_again(ws: Workspace) -> None:
    # A push offered one series' instances and died before it could record the answer: the node
    # holds them, the rows still say "deidentified".
    rows = ws.state.instances([S.DEIDENTIFIED])
    offered = [r for r in rows if r.out_series_uid == rows[0].out_series_uid]
    ws.state.mark_send_started([r.id for r in offered])
    target = CountingTarget()
    for r in offered:
        key = (r.out_study_uid or "", r.out_series_uid or "")
        target.store.setdefault(key, {})[r.out_sop_uid or ""] = Path(r.out_path or "").read_bytes()

    summary = push(ws, target, OPTIONS)

    assert summary.ok and summary.already_on_node == len(offered)
    before_sending = {(study, series) for study, series, first in target.queries if first}
    assert before_sending == {(offered[0].out_study_uid, offered[0].out_series_uid)}
    assert summary.sent == len(rows) - len(offered)  # only the instances never offered


def test_an_older_workspace_counts_its_in_flight_rows_as_offered(tmp_path: Path, ws: Workspace) -> None:
    # A workspace from before schema 3 cannot tell offered rows apart, so it checks them all.
    path = ws.state.path
    ws.close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE instances DROP COLUMN send_started_at")
        conn.execute("PRAGMA user_version=2")
    db = StateDB(path)
    try:
        assert len(db.in_flight()) == len(db.instances([S.DEIDENTIFIED]))
    finally:
        db.close()


def test_verification_queries_run_together_and_settle_each_series(ws: Workspace) -> None:
    push(ws, MemoryTarget(), PushOptions(workers=1, concurrency=1, batch_bytes=200_000, keep_outbox=True))
    with ws.state.transaction() as conn:
        conn.execute("UPDATE instances SET state='sent'")
    both_asking = threading.Barrier(2, timeout=10)
    calls = iter(range(1_000_000))

    class Together(MemoryTarget):
        def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
            if next(calls) < 2:
                both_asking.wait()  # breaks (failing the test) unless the first two run at once
            return super().list_instances(study_uid, series_uid)

    rows = ws.state.instances([S.SENT])
    assert len(_series(ws)) >= 3
    first = next(iter(_series(ws)))
    target = Together()
    for r in rows:
        if (r.out_study_uid, r.out_series_uid) != first:  # one series never arrived
            key = (r.out_study_uid or "", r.out_series_uid or "")
            target.store.setdefault(key, {})[r.out_sop_uid or ""] = b""
    stats = run_verify(ws.state, target, rows, on_event=ignore, concurrency=2)
    missing = [r for r in rows if (r.out_study_uid, r.out_series_uid) == first]
    assert stats.verified == len(rows) - len(missing)
    assert stats.missing == len(missing)
    counts = ws.state.counts_by_state()
    assert counts[S.VERIFIED] == len(rows) - len(missing)
    assert counts[S.DEIDENTIFIED] == len(missing)  # acknowledged but absent: sent again later


def test_a_failed_verification_query_stops_the_run_with_earlier_series_settled(ws: Workspace) -> None:
    push(ws, MemoryTarget(), PushOptions(workers=1, concurrency=1, batch_bytes=200_000, keep_outbox=True))
    with ws.state.transaction() as conn:
        conn.execute("UPDATE instances SET state='sent'")
    rows = ws.state.instances([S.SENT])
    order = list(dict.fromkeys((r.out_study_uid or "", r.out_series_uid or "") for r in rows))

    class LastOneFails(MemoryTarget):
        def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
            if (study_uid, series_uid) == order[-1]:
                raise TransientError("QIDO failed after retries (503)")
            return {r.out_sop_uid or "" for r in rows if r.out_series_uid == series_uid}

    with pytest.raises(TransientError):
        run_verify(ws.state, LastOneFails(), rows, on_event=ignore, concurrency=2)
    last = [r for r in rows if (r.out_study_uid, r.out_series_uid) == order[-1]]
    counts = ws.state.counts_by_state()
    assert counts[S.VERIFIED] == len(rows) - len(last)
    assert counts[S.SENT] == len(last)  # not settled: the next push asks again


def test_outbox_clean_up_deletes_verified_copies_only(ws: Workspace) -> None:
    assert push(ws, MemoryTarget(), OPTIONS).ok
    assert not any(ws.outbox.glob("*.dcm"))
    verified = ws.state.instances([S.VERIFIED])[0]
    # A copy a killed run left behind after verification, files that are not outbox copies of a
    # verified instance, and a folder other features keep in the outbox.
    leftover = ws.outbox / f"{verified.id}.dcm"
    leftover.write_bytes(b"copy")
    unknown = ws.outbox / "999999.dcm"
    unknown.write_bytes(b"not ours")
    partial = ws.outbox / f"{verified.id}.dcm.part"
    partial.write_bytes(b"partial")
    (ws.outbox / "nifti").mkdir()
    kept = ws.outbox / "nifti" / f"{verified.id}.dcm"
    kept.write_bytes(b"derived")

    again = push(ws, MemoryTarget(), OPTIONS)

    assert again.ok and again.nothing_to_do
    assert not leftover.exists()
    assert unknown.exists() and partial.exists() and kept.exists()


def test_a_study_is_verified_while_later_studies_are_still_being_sent(ws: Workspace) -> None:
    log: list[tuple[str, str]] = []

    class Logging(MemoryTarget):
        def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
            log.append(("stow", study_uid))
            return super().send(study_uid, batch)

        def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
            log.append(("qido", study_uid))
            return super().list_instances(study_uid, series_uid)

    summary = push(ws, Logging(), PushOptions(workers=1, concurrency=1, batch_bytes=200_000))

    assert summary.ok and summary.verified_now == len(ws.state.instances())
    studies = list(dict.fromkeys(study for kind, study in log if kind == "stow"))
    assert len(studies) >= 2
    first_check = log.index(("qido", studies[0]))
    last_stow = max(i for i, entry in enumerate(log) if entry == ("stow", studies[-1]))
    assert first_check < last_stow
    assert sum(kind == "qido" for kind, _ in log) == len(_series(ws))  # each series asked once
