"""STOW batches hold one study each and respect the byte cap."""

from __future__ import annotations

from pathlib import Path

from eucaim.ingest.pipeline.batching import plan_batches
from eucaim.ingest.upload.base import OutgoingInstance


def item(i: int, study: str, size: int) -> OutgoingInstance:
    return OutgoingInstance(i, Path(f"/o/{i}"), size, f"2.25.{i}", study, "2.25.900")


def test_batches_split_by_study_and_bytes() -> None:
    items = [item(1, "A", 40), item(2, "B", 40), item(3, "A", 40), item(4, "A", 40)]
    batches = plan_batches(items, max_bytes=100)
    assert [(s, [i.instance_id for i in b]) for s, b in batches] == [
        ("A", [1, 3]),
        ("A", [4]),
        ("B", [2]),
    ]


def test_oversized_instance_travels_alone() -> None:
    batches = plan_batches([item(1, "A", 500), item(2, "A", 10)], max_bytes=100)
    assert [[i.instance_id for i in b] for _, b in batches] == [[1], [2]]
