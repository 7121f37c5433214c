"""NIfTI + sidecar: de-identified with the DICOM rules, renamed, uploaded into the study's XNAT session."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import pytest

from eucaim.deid.engine import Deidentifier
from eucaim.deid.profile import load_profile
from eucaim.dicom.synthetic import Cohort
from eucaim.errors import DeidentificationError, UploadError
from eucaim.ingest.pipeline.runner import push
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.xnat_nifti import prepare_nifti, upload_nifti_xnat
from eucaim.ingest.workspace import Workspace

from .conftest import OPTIONS, XnatSite, fast_target

pytestmark = pytest.mark.integration


def write_nifti(path: Path, *, descrip: bytes, extension: bool = False) -> None:
    """A minimal NIfTI-1 single file (2x2x1 int16) whose header ``descrip`` holds ``descrip``."""
    header = bytearray(348)
    header[0:4] = struct.pack("<i", 348)
    header[4:22] = b"db-name-PHI".ljust(18, b"\0")
    header[40:56] = struct.pack("<8h", 3, 2, 2, 1, 1, 1, 1, 1)
    header[70:72] = struct.pack("<h", 4)  # datatype int16
    header[108:112] = struct.pack("<f", 352.0)  # vox_offset
    header[148:228] = descrip.ljust(80, b"\0")
    header[344:348] = b"n+1\0"
    body = bytes(header) + bytes([1 if extension else 0, 0, 0, 0]) + struct.pack("<4h", 1, 2, 3, 4)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(body)
    else:
        path.write_bytes(body)


def test_nifti_and_bids_sidecar_are_deidentified_and_land_in_the_study_session(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort, tmp_path: Path
) -> None:
    target = fast_target(ws)
    assert push(ws, target, OPTIONS).ok
    row = ws.state.instances([InstanceState.VERIFIED])[0]
    patient = next(p for p in cohort.patients if p.patient_id == row.patient_id)
    name = patient.name

    src = tmp_path / "nifti"
    src.mkdir()
    nifti = src / f"sub-{row.patient_id}_T1w.nii.gz"
    write_nifti(nifti, descrip=f"TE=3;{name}".encode())
    sidecar = src / f"sub-{row.patient_id}_T1w.json"
    sidecar.write_text(
        json.dumps(
            {
                "PatientID": row.patient_id,
                "PatientName": name,
                "StudyInstanceUID": row.study_uid,
                "InstitutionName": "St. Elsewhere",
                "RepetitionTime": 2.3,
                "EchoTime": 0.003,
                "Manufacturer": "Siemens",
                "SliceTiming": [0.0, 0.5],
                "AcquisitionComment": "patient anxious",
                "PatientNotes": f"call {row.patient_id}",
            }
        )
    )
    deidentifier = Deidentifier(load_profile(ws.config.deid.profile), ws.secret)
    prepared = prepare_nifti(nifti, sidecar, deidentifier, ws.secret, ws.outbox / "nifti")

    # Same subject and session as the DICOM images of that study.
    assert prepared.subject == row.pseudonym
    assert xnat_site.emulator.experiment(xnat_site.project, prepared.session)
    names = sorted(p.name for p in prepared.files)
    assert all(row.patient_id not in n and n.startswith(prepared.session) for n in names)
    assert names[0].endswith(".json") and names[1].endswith(".nii.gz")

    meta = json.loads(prepared.files[1].read_text())
    assert meta["PatientID"] == row.pseudonym
    assert meta["StudyInstanceUID"] == row.out_study_uid
    assert meta["RepetitionTime"] == 2.3 and meta["SliceTiming"] == [0.0, 0.5]
    assert meta.get("PatientName") in (None, "", row.pseudonym)  # replaced as in the images
    assert meta["PatientIdentityRemoved"] == "YES"
    for gone in ("InstitutionName", "AcquisitionComment", "PatientNotes"):
        assert gone not in meta
    text = prepared.files[1].read_text()
    assert row.patient_id not in text and name not in text
    header = gzip.decompress(prepared.files[0].read_bytes())
    assert name.encode() not in header and b"PHI" not in header
    assert header[352:] == struct.pack("<4h", 1, 2, 3, 4)  # the voxels are untouched

    uploaded = upload_nifti_xnat(target, prepared)
    experiment = xnat_site.emulator.experiment(xnat_site.project, prepared.session)
    stored = {n: f.digest for n, f in experiment.resources["NIFTI"].files.items()}
    assert stored == uploaded == {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in prepared.files}
    # Deterministic: preparing again gives the same bytes, so re-uploading changes nothing.
    again = prepare_nifti(nifti, sidecar, deidentifier, ws.secret, ws.outbox / "nifti2")
    assert again.md5 == prepared.md5
    target.close()


def test_nifti_that_cannot_be_placed_or_cleaned_is_refused(
    ws: Workspace, xnat_site: XnatSite, tmp_path: Path
) -> None:
    deidentifier = Deidentifier(load_profile(ws.config.deid.profile), ws.secret)
    with_ext = tmp_path / "a.nii"
    write_nifti(with_ext, descrip=b"x", extension=True)
    sidecar = tmp_path / "a.json"
    sidecar.write_text(json.dumps({"PatientID": "P1", "StudyInstanceUID": "1.2.3"}))
    with pytest.raises(DeidentificationError, match="header extensions"):
        prepare_nifti(with_ext, sidecar, deidentifier, ws.secret, tmp_path / "out")
    assert list((tmp_path / "out").glob("*.nii")) == []

    plain = tmp_path / "b.nii"
    write_nifti(plain, descrip=b"x")
    bare = tmp_path / "b.json"
    bare.write_text(json.dumps({"RepetitionTime": 2.0}))
    with pytest.raises(DeidentificationError, match="pass the original patient ID and study UID"):
        prepare_nifti(plain, bare, deidentifier, ws.secret, tmp_path / "out")
    prepared = prepare_nifti(
        plain, bare, deidentifier, ws.secret, tmp_path / "out", patient_id="P1", study_uid="1.2.3"
    )
    target = fast_target(ws)
    with pytest.raises(UploadError, match="push the study's DICOM images first"):
        upload_nifti_xnat(target, prepared)
    target.close()
