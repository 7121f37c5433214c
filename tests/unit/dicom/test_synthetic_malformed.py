"""Each malformed example fails in pydicom exactly the way its documentation says."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from eucaim.dicom.synthetic import write_malformed_examples


@pytest.fixture
def malformed(tmp_path: Path) -> dict[str, Path]:
    return write_malformed_examples(tmp_path / "bad")


def test_writes_every_documented_case(malformed: dict[str, Path]) -> None:
    assert set(malformed) == {"not_dicom", "truncated", "unreadable", "no_sop_uid", "empty"}
    assert all(p.name.endswith(".dcm") for p in malformed.values())


def test_not_dicom_and_empty_are_rejected_by_pydicom(malformed: dict[str, Path]) -> None:
    assert malformed["empty"].stat().st_size == 0
    assert malformed["not_dicom"].read_bytes().startswith(b"%PDF")
    for key in ("not_dicom", "empty"):
        with pytest.raises(InvalidDicomError):
            pydicom.dcmread(malformed[key])


def test_truncated_reads_but_its_pixels_do_not(malformed: dict[str, Path]) -> None:
    ds = pydicom.dcmread(malformed["truncated"])
    assert ds.SOPInstanceUID and ds.PatientID
    assert len(ds.PixelData) < ds.Rows * ds.Columns * 2
    with pytest.raises(ValueError, match="less than expected"):
        _ = ds.pixel_array


def test_unreadable_is_listed_but_cannot_be_opened(malformed: dict[str, Path]) -> None:
    path = malformed["unreadable"]
    assert path in list(path.parent.iterdir())
    assert path.is_symlink() and not path.is_file()
    with pytest.raises(FileNotFoundError):
        path.open("rb")


def test_no_sop_uid_is_valid_part10_without_any_instance_uid(malformed: dict[str, Path]) -> None:
    ds = pydicom.dcmread(malformed["no_sop_uid"])
    assert "SOPInstanceUID" not in ds
    assert "MediaStorageSOPInstanceUID" not in ds.file_meta
    assert ds.Modality == "CT" and ds.pixel_array.shape == (64, 64)


def test_rewriting_into_the_same_folder_works(tmp_path: Path) -> None:
    first = write_malformed_examples(tmp_path)
    second = write_malformed_examples(tmp_path)
    assert first == second
    assert second["truncated"].read_bytes() == first["truncated"].read_bytes()
