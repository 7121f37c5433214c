"""Push de-identified instances to a real Orthanc over DICOMweb and verify them over QIDO."""

from __future__ import annotations

from pathlib import Path

import httpx
import pydicom
import pytest

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.dicomweb import DicomwebTarget
from eucaim.ingest.workspace import Workspace
from tests.support.orthanc import OrthancServer

pytestmark = pytest.mark.integration


def test_push_to_orthanc_stores_every_instance_once(orthanc_clean: OrthancServer, tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=2, slices=(3, 4))
    ws = Workspace.create(tmp_path / "ws", NodeConfig(url="http://127.0.0.1:1", biobank="X"), token="t")
    scan_paths(ws.state, [cohort.root])
    target = DicomwebTarget(
        orthanc_clean.dicomweb_url, auth=httpx.BasicAuth(orthanc_clean.username, orthanc_clean.password)
    )
    options = PushOptions(workers=2, concurrency=2, batch_bytes=64 * 1024)  # several batches per study
    summary = push(ws, target, options)
    assert summary.ok, summary.why_not_ok()
    expected = sorted(r.out_sop_uid or "" for r in ws.state.instances([InstanceState.VERIFIED]))
    assert len(expected) == len(cohort.files)
    assert orthanc_clean.instances() == expected

    # What Orthanc holds is de-identified: its own parse of a stored instance says so.
    with orthanc_clean.client() as client:
        first = client.get("/instances").json()[0]
        blob = client.get(f"/instances/{first}/file").content
    ds = pydicom.dcmread(__import__("io").BytesIO(blob))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.PatientID not in {p.patient_id for p in cohort.patients}

    # A second push sends nothing and leaves Orthanc as it was.
    again = push(ws, target, options)
    target.close()
    assert again.ok and again.nothing_to_do
    assert orthanc_clean.count() == len(cohort.files)


def test_wrong_credentials_stop_the_push_with_a_clear_error(
    orthanc_clean: OrthancServer, tmp_path: Path
) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(2, 2))
    ws = Workspace.create(tmp_path / "ws", NodeConfig(url="http://127.0.0.1:1", biobank="X"), token="t")
    scan_paths(ws.state, [cohort.root])
    target = DicomwebTarget(orthanc_clean.dicomweb_url, auth=httpx.BasicAuth("eucaim", "wrong"))
    summary = push(ws, target, PushOptions(workers=1, concurrency=1, batch_bytes=1 << 20))
    assert not summary.ok
    assert "refused our credentials (401)" in (summary.fatal or "")
    assert "new API token" in summary.why_not_ok()
    assert orthanc_clean.count() == 0
    # Nothing was lost: de-identification stopped early and every instance waits for a later push.
    counts = ws.state.counts_by_state()
    assert counts[InstanceState.DEIDENTIFIED] + counts[InstanceState.PENDING] == len(cohort.files)
    assert counts[InstanceState.QUARANTINED] == counts[InstanceState.VERIFIED] == 0
