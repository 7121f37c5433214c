"""The synthetic cohort is valid DICOM, deterministic, messy like a real export, and full of planted PHI."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pydicom
import pytest

from eucaim.dicom.synthetic import Cohort, generate_cohort
from eucaim.dicom.synthetic_clinical import CLINICAL_COLUMNS

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return generate_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="module")
def headers(cohort: Cohort) -> dict[Path, pydicom.Dataset]:
    return {path: pydicom.dcmread(path) for path in cohort.files}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    first = generate_cohort(tmp_path / "a", patients=3, seed=5, slices=(2, 3))
    second = generate_cohort(tmp_path / "b", patients=3, seed=5, slices=(2, 3))
    other = generate_cohort(tmp_path / "c", patients=3, seed=6, slices=(2, 3))

    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert first.phi_strings == second.phi_strings
    assert {p.patient_id for p in first.patients}.isdisjoint({p.patient_id for p in other.patients})


def test_default_cohort_has_the_promised_shape(cohort: Cohort, headers: dict[Path, pydicom.Dataset]) -> None:
    assert len(cohort.patients) == 10
    assert 300 <= len(cohort.files) <= 1000
    assert sum(p.stat().st_size for p in cohort.files) < 15_000_000
    studies: dict[str, set[str]] = {}
    series_per_study: dict[str, set[str]] = {}
    for ds in headers.values():
        studies.setdefault(ds.PatientID, set()).add(f"{ds.Modality}:{ds.StudyInstanceUID}")
        series_per_study.setdefault(ds.StudyInstanceUID, set()).add(ds.SeriesInstanceUID)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == (CT if ds.Modality == "CT" else MR)
        assert ds.pixel_array.shape == (64, 64)
    assert set(studies) == {p.patient_id for p in cohort.patients}
    for patient_studies in studies.values():
        modalities = Counter(s.split(":")[0] for s in patient_studies)
        assert modalities["MR"] == 1 and modalities["CT"] in (1, 2)
    assert any(Counter(s.split(":")[0] for s in v)["CT"] == 2 for v in studies.values()), "no follow-up"
    assert all(2 <= len(s) <= 3 for s in series_per_study.values())
    assert cohort.n_studies == len(series_per_study)
    assert cohort.n_series == sum(len(s) for s in series_per_study.values())
    assert {ds.Manufacturer for ds in headers.values()} >= {"SIEMENS", "Philips"}


def test_export_is_messy_like_a_real_one(cohort: Cohort) -> None:
    relative = [p.relative_to(cohort.root) for p in cohort.files]
    in_misc = [p for p in relative if p.parts[0] == "misc"]
    assert len(in_misc) >= 5 and all(p.suffix == "" for p in in_misc)
    assert any(p.suffix == "" and p.parts[0] != "misc" for p in relative)
    assert sum(p.suffix == ".dcm" for p in relative) > len(relative) // 2
    tree = [p for p in relative if p.parts[0] != "misc"]
    assert all(len(p.parts) == 4 for p in tree)


def test_every_planted_identifier_is_really_in_the_files(cohort: Cohort) -> None:
    blob = b"\n".join(p.read_bytes() for p in cohort.files)
    missing = [s for s in cohort.phi_strings if s.encode("utf-8") not in blob]
    assert missing == []
    for patient in cohort.patients:
        for value in (patient.name, patient.free_text_name, patient.ascii_name, patient.address):
            assert value in cohort.phi_strings


def test_identifying_attributes_sit_where_hospital_exports_put_them(
    cohort: Cohort, headers: dict[Path, pydicom.Dataset]
) -> None:
    by_id = {p.patient_id: p for p in cohort.patients}
    all_uids = {ds.SOPInstanceUID for ds in headers.values()}
    study_uids = {ds.StudyInstanceUID for ds in headers.values()}
    seen_source = seen_prior = False
    for ds in headers.values():
        patient = by_id[ds.PatientID]
        assert str(ds.PatientName) == patient.name and "^" in patient.name
        assert ds.OtherPatientIDsSequence[0].PatientID == patient.national_id
        assert ds.RequestAttributesSequence[0].AccessionNumber == ds.AccessionNumber
        block = ds.private_block(0x0009, "ACME 1.1")
        assert block[0x01].value == patient.ascii_name
        for attr in ("InstitutionName", "ReferringPhysicianName", "OperatorsName", "StationName"):
            assert ds.data_element(attr) is not None and str(ds.data_element(attr).value)
        if "ReferencedImageSequence" in ds:
            assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID in all_uids
        if "SourceImageSequence" in ds:
            seen_source = True
            assert {i.ReferencedSOPInstanceUID for i in ds.SourceImageSequence} <= all_uids
        if "ReferencedStudySequence" in ds:
            seen_prior = True
            assert ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID in study_uids
    assert seen_source and seen_prior
    descriptions = " ".join(f"{ds.StudyDescription} {ds.SeriesDescription}" for ds in headers.values())
    assert any(p.family_name.upper() in descriptions for p in cohort.patients)
    assert any(p.patient_id in descriptions for p in cohort.patients)


def test_clinical_csv_links_to_the_images_and_its_dates_match_the_studies(
    cohort: Cohort, headers: dict[Path, pydicom.Dataset]
) -> None:
    with cohort.clinical_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CLINICAL_COLUMNS
    assert [r["PatientID"] for r in rows] == [p.patient_id for p in cohort.patients]
    first_ct: dict[str, str] = {}
    for ds in headers.values():
        if ds.Modality == "CT":
            first_ct[ds.PatientID] = min(first_ct.get(ds.PatientID, "99999999"), ds.StudyDate)
    populations = Counter(r["population"] for r in rows)
    assert populations["case"] >= 1 and populations["control"] >= 1
    for row in rows:
        detected = dt.datetime.strptime(first_ct[row["PatientID"]], "%Y%m%d").date().isoformat()
        if row["population"] == "control":
            assert row["acquisition_date"] == detected and row["pathology"] == ""
            continue
        assert row["date_of_radiological_detection"] == detected
        assert detected < row["date_of_pathological_confirmation"] < row["date_of_first_treatment"]
        assert row["pathology"].endswith("/3") and row["topography"].startswith("C")
        assert 30.0 <= float(row["age_at_diagnosis"]) <= 90.0


@pytest.mark.parametrize("bad", [{"patients": 0}, {"image_size": 4}, {"slices": (5, 2)}])
def test_rejects_impossible_sizes(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate_cohort(tmp_path, **bad)  # type: ignore[arg-type]


def test_refuses_to_mix_with_an_earlier_cohort(tmp_path: Path) -> None:
    generate_cohort(tmp_path, patients=1, slices=(1, 1))
    with pytest.raises(FileExistsError, match="not empty"):
        generate_cohort(tmp_path, patients=2, slices=(1, 1))


def test_dciodvfy_finds_no_errors(cohort: Cohort, headers: dict[Path, pydicom.Dataset]) -> None:
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    # One file of each kind: CT axial, CT reformat, CT follow-up, each MR series type, a misc file.
    picks: dict[str, Path] = {}
    for path, ds in headers.items():
        is_follow_up = "ReferencedStudySequence" in ds
        key = f"{ds.Modality}:{ds.ImageType[2]}:{ds.SeriesDescription.split()[0]}:{is_follow_up}"
        picks.setdefault(key, path)
        if path.parent.name == "misc":
            picks.setdefault("misc", path)
    assert len(picks) >= 6
    for path in picks.values():
        result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
        output = result.stdout + result.stderr
        assert "CTImage" in output or "MRImage" in output
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert errors == [], f"{path}: {errors}"
