"""The dataset step's choices (verified items, by their node-side ids), the selection body, its CLI form."""

from __future__ import annotations

import dataclasses

import pytest

from eucaim.errors import ConfigError
from eucaim.ingest.dataset_selection import selection, selection_options, verified_choices
from eucaim.ingest.state.db import InstanceRow
from eucaim.ingest.state.states import InstanceState

ROW = InstanceRow(
    id=1, sop_uid="1.1", path="/exports/JOHN^DOE/1.dcm", size=1, mtime_ns=0, patient_id="HOSP-123",
    study_uid="9.1", series_uid="9.1.1", sop_class_uid="1.2", modality="CT", state=InstanceState.VERIFIED,
    reason=None, last_error=None, attempts=1, pseudonym="EUCAIM-AA", day_offset=3, out_path=None,
    out_sop_uid="2.25.1", out_study_uid="2.25.10", out_series_uid="2.25.100", out_size=1, out_sha256=None,
)  # fmt: skip


def test_only_verified_items_are_offered_under_the_ids_the_node_knows() -> None:
    rows = [
        ROW,
        dataclasses.replace(ROW, id=2, out_sop_uid="2.25.2"),
        dataclasses.replace(ROW, id=3, out_series_uid="2.25.101", modality="MR"),
        # Another patient's study, not verified yet: not offered (the node does not hold it).
        dataclasses.replace(
            ROW,
            id=4,
            patient_id="HOSP-9",
            pseudonym="EUCAIM-BB",
            out_study_uid="2.25.20",
            out_series_uid="2.25.200",
            state=InstanceState.SENT,
        ),
    ]
    choices = verified_choices(rows)
    assert [c.id for c in choices.subjects] == ["EUCAIM-AA"]
    assert [(c.id, c.label) for c in choices.studies] == [("2.25.10", "EUCAIM-AA · 2.25.10 (2 series)")]
    assert [(c.id, c.label) for c in choices.series] == [
        ("2.25.100", "EUCAIM-AA · CT · 2.25.100 (2 instances)"),
        ("2.25.101", "EUCAIM-AA · MR · 2.25.101 (1 instances)"),
    ]
    shown = repr(choices)
    assert "HOSP-123" not in shown and "JOHN" not in shown and "9.1.1" not in shown  # no hospital ids


def test_the_selection_body_and_its_command_line_form() -> None:
    assert selection([], [], []) == {"kind": "biobank"}
    assert selection(["A,B", "C"], [], []) == {"kind": "subjects", "ids": ["A", "B", "C"]}
    assert selection_options({"kind": "series", "ids": ["1", "2"]}) == ["--series", "1,2"]
    assert selection_options({"kind": "biobank"}) == []
    with pytest.raises(ConfigError, match="choose one of --subjects, --studies and --series"):
        selection(["A"], ["1.2"], [])
