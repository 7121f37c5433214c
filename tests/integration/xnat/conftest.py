"""Fixtures for the XNAT emulator tests: a served emulator, a logged-in xnatpy session, DICOM zips."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
import pytest
import xnat
from pydicom.dataset import FileMetaDataset
from pydicom.uid import MRImageStorage, generate_uid

if TYPE_CHECKING:
    from tests.support.xnat_fixture import XnatServer


def pytest_configure(config: pytest.Config) -> None:
    # Registers xnat_server unless tests/conftest.py already did (same plugin name).
    config.pluginmanager.import_plugin("tests.support.xnat_fixture")


@pytest.fixture
def xnat_session(xnat_server: XnatServer) -> Iterator[xnat.session.XNATSession]:
    """The real xnatpy client, logged in as the emulator's site admin."""
    session = xnat.connect(
        xnat_server.url, user=xnat_server.user, password=xnat_server.password, loglevel="ERROR"
    )
    try:
        yield session
    finally:
        session.disconnect()


def make_instance(
    path: Path,
    *,
    study_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    patient: str = "PSEUDO-001",
    modality: str = "MR",
    comments: str = "",
) -> Path:
    """Write a small, valid DICOM file (4x4 pixels) and return its path."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SeriesDescription = f"series {series_number}"
    ds.Modality = modality
    ds.PatientName = patient
    ds.PatientID = patient
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    if comments:
        ds.PatientComments = comments
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(32))
    ds.save_as(path, enforce_file_format=True)
    return path


MakeZip = Callable[..., Path]


@pytest.fixture
def make_dicom_zip(tmp_path: Path) -> MakeZip:
    """Build a zip of one study: ``series`` instances per series, optionally with a non-DICOM member.

    ``bad_member_at`` inserts ``notes.txt`` (not DICOM) before the member at that index.
    """
    counter = iter(range(1_000_000))

    def build(
        *,
        series: tuple[int, ...] = (2, 1),
        study_uid: str | None = None,
        bad_member_at: int | None = None,
        comments: str = "",
        first_series_number: int = 1,
    ) -> Path:
        number = next(counter)
        folder = tmp_path / f"dicom-{number}"
        folder.mkdir()
        study_uid = study_uid or generate_uid()
        files = []
        for offset, count in enumerate(series):
            series_uid = generate_uid()
            for instance in range(1, count + 1):
                path = folder / f"s{offset}-i{instance}.dcm"
                files.append(
                    make_instance(
                        path,
                        study_uid=study_uid,
                        series_uid=series_uid,
                        series_number=first_series_number + offset,
                        instance_number=instance,
                        comments=comments,
                    )
                )
        archive = tmp_path / f"upload-{number}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for index, path in enumerate(files):
                if index == bad_member_at:
                    zipped.writestr("notes.txt", "this is not DICOM")
                zipped.write(path, path.name)
        return archive

    return build


@pytest.fixture
def make_instances(tmp_path: Path) -> Callable[[int, str], list[pydicom.Dataset]]:
    """``count`` instances of one new study and series (patient PN-77), PatientComments ``comments``."""

    def build(count: int, comments: str) -> list[pydicom.Dataset]:
        study, series = generate_uid(), generate_uid()
        paths = [
            make_instance(
                tmp_path / f"{study[-8:]}-{n}.dcm",
                study_uid=study,
                series_uid=series,
                series_number=4,
                instance_number=n,
                patient="PN-77",
                comments=comments,
            )
            for n in range(1, count + 1)
        ]
        return [pydicom.dcmread(p) for p in paths]

    return build
