"""`eucaim-ingest nifti push` puts de-identified NIfTI files into their study's XNAT session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eucaim.dicom.synthetic import Cohort
from eucaim.ingest.cli import app
from eucaim.ingest.pipeline.runner import push
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace

from .conftest import OPTIONS, XnatSite, fast_target
from .test_xnat_nifti import write_nifti

pytestmark = pytest.mark.integration


def test_nifti_push_command(ws: Workspace, xnat_site: XnatSite, cohort: Cohort, tmp_path: Path) -> None:
    assert push(ws, fast_target(ws), OPTIONS).ok
    row = ws.state.instances([InstanceState.VERIFIED])[0]
    nifti = tmp_path / "t1.nii.gz"
    write_nifti(nifti, descrip=b"TE=3")
    (tmp_path / "t1.json").write_text(
        json.dumps({"PatientID": row.patient_id, "StudyInstanceUID": row.study_uid, "EchoTime": 0.003})
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["nifti", "push", str(nifti), "--workspace", str(ws.path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "digests checked" in result.stdout
    assert row.patient_id not in result.stdout
    store = xnat_site.emulator.store
    with store.lock:
        assert any("NIFTI" in e.resources for e in store.experiments.values())

    missing = runner.invoke(app, ["nifti", "push", str(tmp_path / "nope.nii"), "--workspace", str(ws.path)])
    assert missing.exit_code == 1
