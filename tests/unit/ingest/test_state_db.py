"""The state DB keeps one row per instance and refuses illegal transitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from eucaim.errors import StateError
from eucaim.ingest.state.db import DeidRecord, ScannedInstance, StateDB
from eucaim.ingest.state.states import InstanceState


def scanned(uid: str, path: str = "/src/a.dcm", size: int = 10, mtime: int = 1) -> ScannedInstance:
    return ScannedInstance(
        sop_uid=uid,
        path=path,
        size=size,
        mtime_ns=mtime,
        patient_id="P1",
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        modality="CT",
    )


def record(tmp_path: Path) -> DeidRecord:
    return DeidRecord("EUCAIM-X", -400, str(tmp_path / "o.dcm"), "2.25.1", "2.25.2", "2.25.3", 10, "ab")


def test_same_instance_twice_is_indexed_once(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "s.db")
    assert db.upsert_scanned(scanned("1.1")) == "new"
    assert db.upsert_scanned(scanned("1.1")) == "unchanged"
    assert db.upsert_scanned(scanned("1.1", path="/src/copy.dcm")) == "duplicate"
    assert len(db.instances()) == 1
    assert db.duplicate_count() == 1


def test_changed_file_goes_back_to_pending(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "s.db")
    db.upsert_scanned(scanned("1.1"))
    row = db.instances()[0]
    db.mark_deidentified(row.id, record(tmp_path))
    assert db.upsert_scanned(scanned("1.1", size=11)) == "updated"
    assert db.get(row.id).state is InstanceState.PENDING


def test_illegal_transition_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "s.db")
    db.upsert_scanned(scanned("1.1"))
    row = db.instances()[0]
    with pytest.raises(StateError, match="pending -> verified"):
        db.mark_many([row.id], InstanceState.VERIFIED)
    assert db.get(row.id).state is InstanceState.PENDING


def test_state_survives_reopening(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "s.db")
    db.upsert_scanned(scanned("1.1"))
    row = db.instances()[0]
    db.mark_deidentified(row.id, record(tmp_path))
    db.close()
    again = StateDB(tmp_path / "s.db")
    assert again.get(row.id).state is InstanceState.DEIDENTIFIED
    assert again.get(row.id).out_sop_uid == "2.25.1"


def test_quarantine_keeps_reason_and_requeue_resets(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "s.db")
    db.upsert_scanned(scanned("1.1"))
    row = db.instances()[0]
    db.mark_quarantined(row.id, "burned_in_risk", "secondary capture")
    got = db.get(row.id)
    assert (got.state, got.reason, got.last_error) == (
        InstanceState.QUARANTINED,
        "burned_in_risk",
        "secondary capture",
    )
    assert db.requeue_quarantined() == 1
    assert db.get(row.id).state is InstanceState.PENDING


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StateError, match="newer than this program"):
        StateDB(tmp_path / "s.db")
