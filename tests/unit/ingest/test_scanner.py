"""Scanning indexes usable DICOM and reports every other file with a reason, without crashing."""

from __future__ import annotations

from pathlib import Path

from eucaim.dicom.synthetic import generate_cohort, write_malformed_examples
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.db import StateDB


def test_scan_reports_bad_files_and_indexes_the_rest(tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "c", patients=1, slices=(2, 2))
    bad = write_malformed_examples(tmp_path / "c" / "dicom" / "bad")
    db = StateDB(tmp_path / "s.db")
    summary = scan_paths(db, [cohort.root])
    assert summary.new == len(cohort.files)
    reasons = {Path(p).name: reason for p, reason, _ in summary.problems}
    assert reasons[bad["not_dicom"].name] == "not_dicom"
    assert reasons[bad["truncated"].name] == "truncated"
    assert reasons[bad["unreadable"].name] == "unreadable"
    assert reasons[bad["empty"].name] == "empty"
    assert reasons[bad["no_sop_uid"].name] == "missing_attribute"
    # Problems are remembered, with the detail a person needs.
    stored = {Path(p).name: detail for p, _, detail in db.scan_problems()}
    assert "truncated" in stored[bad["truncated"].name]
    assert len(db.instances()) == len(cohort.files)


def test_rescan_is_idempotent(tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "c", patients=1, slices=(2, 2))
    db = StateDB(tmp_path / "s.db")
    scan_paths(db, [cohort.root])
    again = scan_paths(db, [cohort.root])
    assert again.new == 0
    assert again.unchanged == len(cohort.files)


def test_copy_of_an_instance_is_a_duplicate_not_a_second_row(tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "c", patients=1, slices=(2, 2))
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(cohort.files[0].read_bytes())
    db = StateDB(tmp_path / "s.db")
    summary = scan_paths(db, [cohort.root, copy])
    assert summary.duplicates == 1
    assert len(db.instances()) == len(cohort.files)
