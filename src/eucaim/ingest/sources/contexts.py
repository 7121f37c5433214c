"""The presentation contexts a C-GET offers, within DICOM's limit of 128 per association (pure).

The PACS accepts one transfer syntax per context and sends each instance in an accepted one,
transcoding (or failing) otherwise. So the common image classes get one context per common
compressed syntax, letting a JPEG or RLE study arrive as stored; the rest are offered
uncompressed only.
"""

from __future__ import annotations

from typing import Any

from pynetdicom import build_context, build_role
from pynetdicom import sop_class as sop

MAX_CONTEXTS = 128

UNCOMPRESSED = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent by old modalities)
)
COMPRESSED = (
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
)


def _uids(*names: str) -> tuple[str, ...]:
    return tuple(str(getattr(sop, name)) for name in names)


IMAGE_SOP_CLASSES = _uids(
    "CTImageStorage", "EnhancedCTImageStorage", "MRImageStorage", "EnhancedMRImageStorage",
    "ComputedRadiographyImageStorage", "DigitalXRayImageStorageForPresentation",
    "DigitalMammographyXRayImageStorageForPresentation", "UltrasoundImageStorage",
    "UltrasoundMultiFrameImageStorage", "PositronEmissionTomographyImageStorage",
    "NuclearMedicineImageStorage", "SecondaryCaptureImageStorage", "XRayAngiographicImageStorage",
    "BreastTomosynthesisImageStorage",
)  # fmt: skip
OTHER_SOP_CLASSES = _uids(
    "LegacyConvertedEnhancedCTImageStorage", "LegacyConvertedEnhancedMRImageStorage",
    "EnhancedMRColorImageStorage", "MRSpectroscopyStorage", "DigitalXRayImageStorageForProcessing",
    "DigitalMammographyXRayImageStorageForProcessing", "EnhancedUSVolumeStorage",
    "EnhancedPETImageStorage", "LegacyConvertedEnhancedPETImageStorage",
    "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "MultiFrameTrueColorSecondaryCaptureImageStorage", "XRayRadiofluoroscopicImageStorage",
    "EnhancedXAImageStorage", "RTImageStorage", "RTDoseStorage", "RTStructureSetStorage", "RTPlanStorage",
    "SegmentationStorage", "ParametricMapStorage", "BasicTextSRStorage", "EnhancedSRStorage",
    "ComprehensiveSRStorage", "XRayRadiationDoseSRStorage", "KeyObjectSelectionDocumentStorage",
    "GrayscaleSoftcopyPresentationStateStorage", "SpatialRegistrationStorage", "EncapsulatedPDFStorage",
    "VLWholeSlideMicroscopyImageStorage", "VLPhotographicImageStorage",
    "OphthalmicPhotography8BitImageStorage", "RawDataStorage",
)  # fmt: skip
RETRIEVABLE_SOP_CLASSES = IMAGE_SOP_CLASSES + OTHER_SOP_CLASSES


def retrieve_contexts(query_model: str) -> list[Any]:
    """Return the contexts for a C-GET: the query model's first, then every storage context."""
    contexts = [build_context(query_model)]
    for sop_class in IMAGE_SOP_CLASSES:
        contexts.append(build_context(sop_class, list(UNCOMPRESSED)))
        contexts.extend(build_context(sop_class, syntax) for syntax in COMPRESSED)
    contexts.extend(build_context(sop_class, list(UNCOMPRESSED)) for sop_class in OTHER_SOP_CLASSES)
    return contexts


def storage_scp_roles() -> list[Any]:
    """Return the role selections that let the PACS send us C-STOREs on our own association."""
    return [build_role(sop_class, scp_role=True) for sop_class in RETRIEVABLE_SOP_CLASSES]
