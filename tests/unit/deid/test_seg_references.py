"""A DICOM-SEG built by highdicom on a CT series stays valid and keeps pointing at that series
after both are de-identified: the Tier-3 case that EUCAIM's current pipeline destroys."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file

from .conftest import PHI, make_instance

SERIES = "1.2.826.0.1.999111.20"


def _ct_series(n: int = 3) -> list[pydicom.Dataset]:
    slices = []
    for i in range(n):
        ds = make_instance(sop_uid=f"1.2.826.0.1.999111.3{i}", series_uid=SERIES)
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(i) * 1.25]
        del ds.ReferencedImageSequence  # a plain axial series
        slices.append(ds)
    return slices


def _segmentation(ct: list[pydicom.Dataset]) -> pydicom.Dataset:
    mask = np.zeros((len(ct), 8, 8), dtype=bool)
    mask[:, 2:6, 2:6] = True
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Nodule",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Nodule,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=ct,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid="1.2.826.0.1.999111.40",
        series_number=40,
        sop_instance_uid="1.2.826.0.1.999111.41",
        instance_number=1,
        manufacturer="ACME",
        manufacturer_model_name="Segmenter",
        software_versions="1.0",
        device_serial_number="SN-0001",
        content_creator_name=PHI["physician"],
    )
    return seg


@pytest.fixture
def written(tmp_path: Path) -> tuple[list[Path], Path]:
    ct = _ct_series()
    seg = _segmentation(ct)
    ct_paths = []
    for i, ds in enumerate(ct):
        path = tmp_path / "in" / f"ct{i}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        ct_paths.append(path)
    seg_path = tmp_path / "in" / "seg.dcm"
    seg.save_as(seg_path, enforce_file_format=True)
    return ct_paths, seg_path


def test_seg_still_references_the_deidentified_ct(
    tmp_path: Path, written: tuple[list[Path], Path], eucaim: Deidentifier
) -> None:
    ct_paths, seg_path = written
    out = tmp_path / "out"
    ct_out = [deidentify_file(p, out / p.name, eucaim) for p in ct_paths]
    seg_out = deidentify_file(seg_path, out / "seg.dcm", eucaim)
    seg = pydicom.dcmread(out / "seg.dcm")
    ct_uids = {o.sop_instance_uid for o in ct_out}
    assert seg.StudyInstanceUID == ct_out[0].study_instance_uid
    assert seg.PatientID == ct_out[0].pseudonym == seg_out.pseudonym
    assert seg.FrameOfReferenceUID == pydicom.dcmread(out / "ct0.dcm").FrameOfReferenceUID
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == ct_out[0].series_instance_uid
    assert {i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence} == ct_uids
    sources = {
        src.ReferencedSOPInstanceUID
        for frame in seg.PerFrameFunctionalGroupsSequence
        for derivation in frame.DerivationImageSequence
        for src in derivation.SourceImageSequence
    }
    assert sources == ct_uids
    assert seg.SegmentSequence[0].SegmentLabel == "Nodule"
    assert int(seg.NumberOfFrames) == 3
    data = (out / "seg.dcm").read_bytes()
    assert b"999111" not in data  # no original UID anywhere
    assert PHI["physician"].encode() not in data and b"Strange" not in data


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_seg_has_no_new_dciodvfy_errors(
    tmp_path: Path, written: tuple[list[Path], Path], eucaim: Deidentifier
) -> None:
    _, seg_path = written
    deidentify_file(seg_path, tmp_path / "seg-out.dcm", eucaim)

    def errors(path: Path) -> set[str]:
        run = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, check=False)
        return {
            line.split(" - ", 2)[1] + line.split(" - ", 2)[-1]
            for line in run.stderr.splitlines()
            if line.startswith("Error")
        }

    assert errors(tmp_path / "seg-out.dcm") - errors(seg_path) == set()


def test_reference_check_finds_closure_and_dangling(
    tmp_path: Path, written: tuple[list[Path], Path], eucaim: Deidentifier
) -> None:
    from eucaim.deid.references import check_references

    ct_paths, seg_path = written
    originals = {str(pydicom.dcmread(p).SOPInstanceUID) for p in [*ct_paths, seg_path]} | {SERIES}
    out = tmp_path / "out"
    for p in [*ct_paths, seg_path]:
        deidentify_file(p, out / p.name, eucaim)
    everything = [pydicom.dcmread(p) for p in sorted(out.glob("*.dcm"))]
    report = check_references(everything, original_uids=originals)
    assert report.instances == 4 and report.references == 3
    assert report.is_closed and report.surviving_originals == ()
    without_first_ct = [ds for ds in everything if ds.Modality == "SEG" or ds.InstanceNumber != 1]
    assert len(check_references(without_first_ct).dangling) == 1
    untouched = [pydicom.dcmread(seg_path)]
    assert check_references(untouched, original_uids=originals).surviving_originals
