"""Build one synthetic CT or MR instance (a pydicom Dataset with file meta) from a study plan.

Pure: plans and a slice index in, a dataset out; writing is the caller's job. Every module the CT
Image and MR Image IODs require is filled in, with identifying values where a hospital export has
them, so ``dciodvfy`` accepts the result and de-identification has something to remove.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from eucaim.dicom.synthetic_plan import (
    CT_IMAGE_STORAGE,
    MR_IMAGE_STORAGE,
    SeriesPlan,
    StudyPlan,
)

PRIVATE_CREATOR = "ACME 1.1"
PRIVATE_GROUP = 0x0009
STUDY_REFERENCE_CLASS = "1.2.840.10008.3.1.2.3.1"  # what ReferencedStudySequence items name

_FOV_MM = 350.0
_MR_PARAMS = {  # TR, TE, scanning sequence, sequence variant, scan options, sequence name
    "mr_t2": ("4000", "96", "SE", "SK\\SP", "FS", "*tse2d1_15"),
    "mr_t1": ("4.2", "1.9", "GR", "SP\\SS", "FS", "*fl3d1"),
    "mr_dwi": ("5200", "68", "EP", "SK\\SP", "FS", "*ep_b1000t"),
}


def sop_class_for(modality: str) -> str:
    """Return the storage SOP class UID for ``CT`` or ``MR``."""
    return CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE


def build_instance(study: StudyPlan, series: SeriesPlan, index: int, pixels: np.ndarray) -> Dataset:
    """Return instance ``index`` of ``series`` as a Part-10-ready dataset (explicit VR little endian)."""
    ds = Dataset()
    sop_uid = series.instance_uids[index]
    sop_class = sop_class_for(study.modality)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = _image_type(series)
    ds.InstanceCreationDate = study.da
    ds.InstanceCreationTime = series.time
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    _add_study(ds, study)
    _add_patient(ds, study)
    _add_series(ds, study, series)
    _add_image(ds, study, series, index, pixels)
    _add_private(ds, study)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def _image_type(series: SeriesPlan) -> list[str]:
    if series.kind == "ct_mpr":
        return ["DERIVED", "SECONDARY", "MPR"]
    if series.kind.startswith("ct"):
        return ["ORIGINAL", "PRIMARY", "AXIAL"]
    return ["ORIGINAL", "PRIMARY", "M", "ND"]


def _add_patient(ds: Dataset, study: StudyPlan) -> None:
    p = study.patient
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = "HSJ"
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    other = Dataset()
    other.PatientID = p.national_id
    other.IssuerOfPatientID = "DNI"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientAddress = p.address
    ds.PatientTelephoneNumbers = p.telephone
    age = p.age + (study.date - p.baseline).days // 365
    ds.PatientAge = f"{age:03d}Y"
    ds.PatientSize = f"{p.height_m:.2f}"
    ds.PatientWeight = f"{p.weight_kg:.1f}"
    ds.AdditionalPatientHistory = f"Prior imaging for {p.family_name}, {p.given_name} at another centre"


def _add_study(ds: Dataset, study: StudyPlan) -> None:
    ds.StudyDate = study.da
    ds.SeriesDate = study.da
    ds.AcquisitionDate = study.da
    ds.ContentDate = study.da
    ds.StudyTime = study.time
    ds.AccessionNumber = study.accession
    ds.Modality = study.modality
    ds.Manufacturer = study.manufacturer
    ds.InstitutionName = study.institution
    ds.InstitutionAddress = study.institution_address
    ds.ReferringPhysicianName = study.referring
    ds.StationName = study.station
    ds.StudyDescription = study.description
    ds.InstitutionalDepartmentName = "Radiología"
    ds.PerformingPhysicianName = study.performing
    ds.OperatorsName = study.operator
    ds.ManufacturerModelName = study.model
    if study.prior_study_uid is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = STUDY_REFERENCE_CLASS
        ref.ReferencedSOPInstanceUID = study.prior_study_uid
        ds.ReferencedStudySequence = Sequence([ref])
    ds.StudyInstanceUID = study.uid
    ds.StudyID = study.study_id


def _add_series(ds: Dataset, study: StudyPlan, series: SeriesPlan) -> None:
    ds.SeriesTime = series.time
    ds.SeriesDescription = series.description
    ds.BodyPartExamined = study.patient.diagnosis.body_part
    if ds.BodyPartExamined == "BREAST":  # a paired organ: General Series then requires Laterality
        ds.Laterality = "L" if int(study.patient.patient_id[-1]) % 2 else "R"
    ds.DeviceSerialNumber = study.device_serial
    ds.SoftwareVersions = "VB20A"
    ds.PatientPosition = "HFS"
    ds.SeriesInstanceUID = series.uid
    ds.SeriesNumber = series.number
    ds.FrameOfReferenceUID = series.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    request = Dataset()
    request.AccessionNumber = study.accession
    request.RequestedProcedureID = study.requested_procedure_id
    request.ScheduledProcedureStepID = f"SPS{study.requested_procedure_id[2:]}"
    request.RequestedProcedureDescription = study.description
    ds.RequestAttributesSequence = Sequence([request])


def _add_image(ds: Dataset, study: StudyPlan, series: SeriesPlan, index: int, pixels: np.ndarray) -> None:
    rows, columns = pixels.shape
    thickness = {"ct_soft": 5.0, "ct_sharp": 1.0, "ct_mpr": 3.0}.get(series.kind, 4.0)
    spacing = _FOV_MM / columns
    ds.AcquisitionTime = series.time
    ds.ContentTime = series.time
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = f"{study.da}{series.time}.000000"  # a DT, which date shifting must also cover
    ds.InstanceNumber = index + 1
    ds.ImageComments = f"{study.patient.free_text_name}, {study.modality} slice {index + 1}"
    half = _FOV_MM / 2
    position = index * thickness
    if series.kind == "ct_mpr":  # coronal reformat of the soft-tissue axial series
        ds.ImagePositionPatient = [f"{-half:.1f}", f"{-half + position:.1f}", "0.0"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]
    else:
        ds.ImagePositionPatient = [f"{-half:.1f}", f"{-half:.1f}", f"{-position:.1f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = f"{-position:.1f}"
    ds.SliceThickness = f"{thickness:.1f}"
    ds.PixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]
    _add_references(ds, study, series, index)
    if study.modality == "CT":
        _add_ct(ds, series)
    else:
        _add_mr(ds, series, thickness)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = pixels.astype("<i2").tobytes()


def _add_references(ds: Dataset, study: StudyPlan, series: SeriesPlan, index: int) -> None:
    sop_class = sop_class_for(study.modality)
    if index > 0:  # scanners reference the planning image; here the first slice of the series
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = series.instance_uids[0]
        ds.ReferencedImageSequence = Sequence([ref])
    if series.source_series is not None:
        source_uids = series.source_series.instance_uids
        items = []
        for uid in (source_uids[0], source_uids[-1]):
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = uid
            items.append(item)
        ds.SourceImageSequence = Sequence(items)
        ds.DerivationDescription = "Multiplanar reformat"


def _add_ct(ds: Dataset, series: SeriesPlan) -> None:
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = f"{_FOV_MM:.0f}"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "160"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = 250
    ds.Exposure = 125
    ds.ConvolutionKernel = "B70f" if series.kind == "ct_sharp" else "B30f"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "-600" if series.kind == "ct_sharp" else "40"
    ds.WindowWidth = "1500" if series.kind == "ct_sharp" else "400"


def _add_mr(ds: Dataset, series: SeriesPlan, thickness: float) -> None:
    tr, te, sequence, variant, options, name = _MR_PARAMS[series.kind]
    ds.ScanningSequence = sequence.split("\\")
    ds.SequenceVariant = variant.split("\\")
    ds.ScanOptions = options
    ds.MRAcquisitionType = "3D" if series.kind == "mr_t1" else "2D"
    ds.SequenceName = name
    ds.RepetitionTime = tr
    ds.EchoTime = te
    ds.EchoTrainLength = 1 if series.kind == "mr_t1" else 16
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = "123.2"
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = "3"
    ds.SpacingBetweenSlices = f"{thickness:.1f}"
    ds.FlipAngle = "10" if series.kind == "mr_t1" else "150"
    ds.WindowCenter = "400"
    ds.WindowWidth = "800"


def _add_private(ds: Dataset, study: StudyPlan) -> None:
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", study.patient.ascii_name)
    block.add_new(0x02, "LO", study.patient.patient_id)
    block.add_new(0x03, "DS", "1.5")  # a harmless value, so 'keep safe private' has a case


def make_pixels(rng: np.random.Generator, size: int, index: int, count: int, modality: str) -> np.ndarray:
    """Return a size x size int16 slice: a body ellipse, a brighter lesion that grows and shrinks, noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    radius = (xx / 0.42) ** 2 + (yy / 0.32) ** 2
    body = radius <= 1.0
    depth = (index + 0.5) / count - 0.5
    lesion = (xx - 0.12) ** 2 + (yy + 0.05) ** 2 + depth**2 <= 0.12**2
    if modality == "CT":
        image = np.full((size, size), -1000.0, dtype=np.float32)
        image[body] = 40.0
        image[body & (radius > 0.85)] = 700.0  # a rim of bone
        image[lesion] = 90.0
        noise = 12.0
    else:
        image = np.zeros((size, size), dtype=np.float32)
        image[body] = 300.0
        image[lesion] = 650.0
        noise = 20.0
    image += rng.normal(0.0, noise, size=(size, size)).astype(np.float32)
    return np.clip(np.rint(image), -32768, 32767).astype(np.int16)
