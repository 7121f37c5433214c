"""Synthetic DICOM instances with planted identifying values, for the de-identification tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from eucaim.deid.engine import Deidentifier
from eucaim.deid.profile import load_profile

SECRET = b"test-site-secret-0123456789"

# Every value here identifies someone; none may appear anywhere in de-identified output.
PHI = {
    "name": "Doe^Johnathan",
    "name_part": "Johnathan",
    "patient_id": "PID-98765432",
    "other_id": "OTHER-55501234",
    "accession": "ACC-4401177",
    "birth": "19610413",
    "study_date": "20190503",
    "nested_date": "20180211",
    "private_date": "20170607",
    "physician": "Strange^Stephen",
    "nested_name": "Watson^Joan",
    "private_text": "Hospital-Secret-Ward-7",
    "institution": "St Elsewhere General",
    "station": "CTSTATION42",
    "address": "221B Baker Street",
    "study_uid": "1.2.826.0.1.999111.1",
    "series_uid": "1.2.826.0.1.999111.2",
    "sop_uid": "1.2.826.0.1.999111.3",
    "for_uid": "1.2.826.0.1.999111.4",
    "ref_uid": "1.2.826.0.1.999111.5",
    "deep_uid": "1.2.826.0.1.999111.6",
    "meta_ae": "SRCAE-PHI",
    "comment": "patient Johnathan Doe called back",
}
UID_PHI = [v for k, v in PHI.items() if k.endswith("_uid")]


def make_instance(
    *,
    patient_id: str = PHI["patient_id"],
    sop_uid: str = PHI["sop_uid"],
    series_uid: str = PHI["series_uid"],
    ref_uid: str = PHI["ref_uid"],
) -> pydicom.FileDataset:
    """A small CT instance with PHI planted top-level, in sequences 3 deep, in private and file meta."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = PHI["meta_ae"]
    ds = pydicom.FileDataset("synthetic", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = PHI["study_date"]
    ds.SeriesDate = PHI["study_date"]
    ds.AcquisitionDate = PHI["study_date"]
    ds.ContentDate = PHI["study_date"]
    ds.StudyTime = "101500"
    ds.AcquisitionDateTime = PHI["study_date"] + "101500.123456+0100"
    ds.AccessionNumber = PHI["accession"]
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.ManufacturerModelName = "Scanner 9000"
    ds.InstitutionName = PHI["institution"]
    ds.InstitutionAddress = PHI["address"]
    ds.StationName = PHI["station"]
    ds.ReferringPhysicianName = PHI["physician"]
    ds.StudyDescription = f"CT THORAX {PHI['name_part']}"
    ds.SeriesDescription = f"AX LUNG {PHI['patient_id']} {PHI['study_date'][:4]}-05-03"
    ds.ProtocolName = "CHEST ROUTINE"
    ds.ImageComments = PHI["comment"]
    ds.PatientName = PHI["name"]
    ds.PatientID = patient_id
    ds.PatientBirthDate = PHI["birth"]
    ds.PatientSex = "F"
    ds.PatientAge = "058Y"
    ds.PatientWeight = 71.5
    ds.PatientSize = 1.68
    ds.BodyPartExamined = "CHEST"
    ds.OtherPatientIDs = PHI["other_id"]
    ds.SliceThickness = 1.25
    ds.KVP = 120
    ds.StudyInstanceUID = PHI["study_uid"]
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = PHI["for_uid"]
    ds.StudyID = "S1234"
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    # Public but in no rule and no allow-list: default-deny must remove it.
    ds.SOPAuthorizationComment = f"released by {PHI['physician']}"
    # A reference to another instance: must be remapped, not removed.
    ref = pydicom.Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = ref_uid
    ds.ReferencedImageSequence = Sequence([ref])
    # Three levels deep: equipment -> code -> nested person, with names, dates and UIDs.
    level3 = pydicom.Dataset()
    level3.PersonName = PHI["nested_name"]
    level3.ObservationDateTime = PHI["nested_date"] + "083000"
    level3.UID = PHI["deep_uid"]
    level2 = pydicom.Dataset()
    level2.CodeValue = "121000"
    level2.CodingSchemeDesignator = "DCM"
    level2.CodeMeaning = "Observer"
    level2.ContentSequence = Sequence([level3])
    level1 = pydicom.Dataset()
    level1.InstitutionName = PHI["institution"]
    level1.StationName = PHI["station"]
    level1.ContributionDateTime = PHI["nested_date"] + "120000"
    level1.PurposeOfReferenceCodeSequence = Sequence([level2])
    ds.ContributingEquipmentSequence = Sequence([level1])
    # Private block with identifying text and a nested private sequence.
    block = ds.private_block(0x0011, "ACME PRIVATE", create=True)
    block.add_new(0x10, "LO", PHI["private_text"])
    block.add_new(0x11, "DA", PHI["private_date"])
    inner = pydicom.Dataset()
    inner.PatientName = PHI["name"]
    block.add_new(0x12, "SQ", Sequence([inner]))
    ds.Rows = 8
    ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(64, dtype="<u2").tobytes()
    return ds


@pytest.fixture
def instance() -> pydicom.FileDataset:
    return make_instance()


@pytest.fixture
def eucaim() -> Deidentifier:
    return Deidentifier(load_profile("eucaim"), SECRET)


@pytest.fixture
def basic() -> Deidentifier:
    return Deidentifier(load_profile("ps315-basic"), SECRET)


@pytest.fixture
def write_instance(tmp_path: Path) -> Callable[..., Path]:
    def write(ds: pydicom.Dataset | None = None, name: str = "in.dcm") -> Path:
        path = tmp_path / name
        (ds if ds is not None else make_instance()).save_as(path, enforce_file_format=True)
        return path

    return write
