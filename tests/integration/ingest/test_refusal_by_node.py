"""The node refuses, per instance, anything not marked de-identified, and our client says why."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.upload.base import OutgoingInstance
from eucaim.ingest.upload.dicomweb import DicomwebTarget
from tests.support.node_server import SeededNode

pytestmark = pytest.mark.integration


def outgoing(path: Path, i: int) -> OutgoingInstance:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return OutgoingInstance(
        i, path, path.stat().st_size, ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID
    )


def test_original_instance_is_refused_and_nothing_is_stored(seeded_node: SeededNode, tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "c", patients=1, slices=(2, 2))
    original = outgoing(cohort.files[0], 1)
    target = DicomwebTarget(seeded_node.dicomweb_url, token_provider=lambda: seeded_node.ingester_token)
    result = target.send(original.study_instance_uid, [original])
    assert result.stored == frozenset()
    assert "not marked de-identified" in result.failed[original.sop_instance_uid]
    assert target.list_instances(original.study_instance_uid, original.series_instance_uid) == set()
    stored_files = [p for p in seeded_node.node.store_dir.rglob("*") if p.is_file()]
    assert stored_files == []
    target.close()
