"""deidentify_file: what reaches the disk, byte for byte, and how bad input is refused."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import FileOutcome, deidentify_file
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError, InvalidDicomError

from .conftest import PHI, SECRET, UID_PHI, make_instance

Writer = Callable[..., Path]


def _variants(value: str) -> list[bytes]:
    """A value as it could appear in the bytes: as is, upper case, and name parts."""
    out = {value, value.upper(), value.replace("^", " ")}
    out.update(p for p in value.replace("^", " ").split() if len(p) > 3)
    return [v.encode("latin-1") for v in out]


@pytest.mark.parametrize("profile", ["eucaim", "ps315-basic"])
def test_no_planted_phi_survives_in_written_bytes(
    profile: str, tmp_path: Path, write_instance: Writer
) -> None:
    src = write_instance()
    assert all(any(v in src.read_bytes() for v in _variants(p)) for p in PHI.values() if p != PHI["comment"])
    dst = tmp_path / "out" / "x.dcm"
    deidentify_file(src, dst, Deidentifier(load_profile(profile), SECRET))
    data = dst.read_bytes()
    for key, value in PHI.items():
        for variant in _variants(value):
            assert variant not in data, f"{key} survived"
    for uid in UID_PHI:
        assert uid.encode() not in data


def test_written_file_is_valid_and_consistent(tmp_path: Path, write_instance: Writer) -> None:
    dst = tmp_path / "out.dcm"
    result = deidentify_file(write_instance(), dst, Deidentifier(load_profile("eucaim"), SECRET))
    ds = pydicom.dcmread(dst)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == result.sop_instance_uid
    assert ds.StudyInstanceUID == result.study_instance_uid
    assert ds.SeriesInstanceUID == result.series_instance_uid
    assert result.modality == "CT"
    assert result.original_patient_id == PHI["patient_id"]
    assert result.size == dst.stat().st_size
    import hashlib

    assert result.sha256 == hashlib.sha256(dst.read_bytes()).hexdigest()
    assert ds.pixel_array.shape == (8, 8)
    assert not list(tmp_path.glob(".deid-*"))  # no temp file left behind


def test_same_secret_same_input_identical_bytes(tmp_path: Path, write_instance: Writer) -> None:
    src = write_instance()
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    deidentify_file(src, a, Deidentifier(load_profile("eucaim"), SECRET))
    deidentify_file(src, b, Deidentifier(load_profile("eucaim"), SECRET))
    assert a.read_bytes() == b.read_bytes()


def test_references_between_instances_still_resolve(tmp_path: Path, write_instance: Writer) -> None:
    first = make_instance(sop_uid="1.2.826.0.1.999111.100")
    second = make_instance(sop_uid="1.2.826.0.1.999111.101", ref_uid="1.2.826.0.1.999111.100")
    d = Deidentifier(load_profile("eucaim"), SECRET)
    out1 = deidentify_file(write_instance(first, "1.dcm"), tmp_path / "o1.dcm", d)
    deidentify_file(write_instance(second, "2.dcm"), tmp_path / "o2.dcm", d)
    ref = pydicom.dcmread(tmp_path / "o2.dcm").ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert ref == out1.sop_instance_uid
    assert pydicom.dcmread(tmp_path / "o2.dcm").StudyInstanceUID == out1.study_instance_uid


def test_outcome_and_deidentifier_pickle_for_worker_processes() -> None:
    d = Deidentifier(load_profile("eucaim"), SECRET)
    clone = pickle.loads(pickle.dumps(d))
    assert clone.deidentify(make_instance()).dataset == d.deidentify(make_instance()).dataset
    outcome = FileOutcome("1", "2", "3", "4", "CT", "P", "ID", -400, 10, "ab", {"a": 1})
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_not_dicom_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("Doe, Johnathan - not an image")
    with pytest.raises(InvalidDicomError) as info:
        deidentify_file(src, tmp_path / "o.dcm", Deidentifier(load_profile("eucaim"), SECRET))
    assert info.value.path == src
    assert not (tmp_path / "o.dcm").exists()


def test_truncated_file_is_refused(tmp_path: Path, write_instance: Writer) -> None:
    src = write_instance()
    data = src.read_bytes()
    src.write_bytes(data[: len(data) - 40])  # cut into the pixel data
    with pytest.raises(InvalidDicomError, match="truncated"):
        deidentify_file(src, tmp_path / "o.dcm", Deidentifier(load_profile("eucaim"), SECRET))


def test_file_cut_in_the_header_is_refused(tmp_path: Path, write_instance: Writer) -> None:
    src = write_instance()
    src.write_bytes(src.read_bytes()[:300])
    with pytest.raises(InvalidDicomError):
        deidentify_file(src, tmp_path / "o.dcm", Deidentifier(load_profile("eucaim"), SECRET))


def test_missing_sop_instance_uid_is_refused(tmp_path: Path, write_instance: Writer) -> None:
    ds = make_instance()
    del ds.SOPInstanceUID
    with pytest.raises(InvalidDicomError, match="SOPInstanceUID"):
        deidentify_file(write_instance(ds), tmp_path / "o.dcm", Deidentifier(load_profile("eucaim"), SECRET))


def test_bare_dataset_without_preamble_is_accepted_with_its_encoding(tmp_path: Path) -> None:
    import pydicom.data

    src = Path(pydicom.data.__file__).parent / "test_files" / "rtstruct.dcm"  # no preamble, no meta
    outcome = deidentify_file(src, tmp_path / "o.dcm", Deidentifier(load_profile("eucaim"), SECRET))
    out = pydicom.dcmread(tmp_path / "o.dcm")
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"  # implicit VR, as detected
    assert out.Modality == "RTSTRUCT" and outcome.sop_instance_uid.startswith("2.25.")
    assert len(out.StructureSetROISequence) == len(pydicom.dcmread(src, force=True).StructureSetROISequence)


@pytest.mark.parametrize("profile", ["eucaim", "ps315-basic"])
def test_no_identifying_string_of_the_synthetic_cohort_survives(tmp_path: Path, profile: str) -> None:
    from eucaim.dicom.synthetic import generate_cohort

    cohort = generate_cohort(tmp_path / "cohort", patients=3, image_size=16, slices=(2, 2))
    deidentifier = Deidentifier(load_profile(profile), SECRET)
    survivors: dict[str, list[str]] = {}
    planted = sum(
        s.upper().encode() in f.read_bytes().upper() for f in cohort.files for s in cohort.phi_strings
    )
    assert planted > 100  # the cohort really carries identity to remove
    for i, src in enumerate(cohort.files):
        dst = tmp_path / "out" / f"{i}.dcm"
        try:
            deidentify_file(src, dst, deidentifier)
        except DeidentificationError as exc:
            assert exc.reason == "burned_in_risk"  # the cohort's screen captures
            continue
        data = dst.read_bytes().upper()
        found = [s for s in cohort.phi_strings if len(s) >= 4 and s.upper().encode("utf-8") in data]
        if found:
            survivors[src.name] = found
    assert survivors == {}
