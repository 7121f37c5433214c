"""Burned-in text triage: does this instance risk carrying identity in its pixels?

Header rules, no pixel access: BurnedInAnnotation, ImageType (SCREEN SAVE, SECONDARY),
modality (US, XA, RF, SC, OT, XC, ES, GM), secondary capture, video and encapsulated-document
SOP classes. An explicit ``BurnedInAnnotation = NO`` from the producer is trusted except for
screen saves and secondary captures, which are made of whatever was on a screen.
"""

from __future__ import annotations

from collections.abc import Iterable

import pydicom

# Modalities whose images routinely carry burned-in annotations or show the patient.
RISKY_MODALITIES = frozenset({"US", "XA", "RF", "SC", "OT", "XC", "ES", "GM", "DOC"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its .1-.4 multi-frame variants
_VIDEO_PREFIX = "1.2.840.10008.5.1.4.1.1.77.1."  # visible light, video variants end in .1
_DOCUMENT_PREFIX = "1.2.840.10008.5.1.4.1.1.104."  # encapsulated PDF, CDA, STL, OBJ, MTL
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def burned_in_risk(ds: pydicom.Dataset) -> str | None:
    """Why ``ds`` may show identity in its pixels or document, or None if nothing suggests it."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if "EncapsulatedDocument" in ds or sop_class.startswith(_DOCUMENT_PREFIX):
        return "encapsulated document (PDF/CDA/...) can contain any identifying text"
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        return None
    image_type = [str(v).upper() for v in _as_list(ds.get("ImageType"))]
    if "SCREEN SAVE" in image_type:
        return "ImageType SCREEN SAVE: a captured screen"
    if sop_class == _SECONDARY_CAPTURE or sop_class.startswith(_SECONDARY_CAPTURE + "."):
        return "secondary capture SOP class"
    burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned == "YES":
        return "BurnedInAnnotation is YES"
    if burned == "NO":
        return None
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in RISKY_MODALITIES:
        return f"modality {modality} often carries burned-in text and BurnedInAnnotation is not NO"
    if sop_class.startswith(_VIDEO_PREFIX):
        return "video SOP class"
    if "SECONDARY" in image_type and modality in ("", "OT"):
        return "ImageType SECONDARY without a known modality"
    return None


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]
