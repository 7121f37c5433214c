"""Planning what a resumed retrieve still has to fetch."""

from __future__ import annotations

from pathlib import Path

from eucaim.ingest.sources.pacs import InstanceRef
from eucaim.ingest.sources.resume import SeriesPlan, plan_missing, present_uids


def test_whole_missing_series_and_partial_series_are_planned_apart() -> None:
    refs = [
        InstanceRef("S1", "1.1"),
        InstanceRef("S1", "1.2"),
        InstanceRef("S2", "2.1"),
        InstanceRef("S3", "3.1"),
    ]

    plans = plan_missing(refs, present={"1.1", "3.1"})

    assert plans == [
        SeriesPlan("S1", ("1.2",), whole_series=False),
        SeriesPlan("S2", ("2.1",), whole_series=True),
    ]


def test_nothing_to_do_when_all_present() -> None:
    assert plan_missing([InstanceRef("S1", "1.1")], present={"1.1", "9.9"}) == []


def test_only_finished_files_count_as_present(tmp_path: Path) -> None:
    (tmp_path / "1.2.3.dcm").write_bytes(b"x")
    (tmp_path / ".1.2.4.abcd.part").write_bytes(b"x")

    assert present_uids(tmp_path) == {"1.2.3"}
    assert present_uids(tmp_path / "missing") == set()
