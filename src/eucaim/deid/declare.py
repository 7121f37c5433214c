"""Stamping de-identified output: the conformance markers and a fresh file meta group."""

from __future__ import annotations

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from eucaim.deid.profile import BASIC_PROFILE_CODE, OPTIONS, Profile

IMPLEMENTATION_VERSION = "EUCAIM_DEID_1"
_TEMPORAL = {"shift": "MODIFIED", "keep": "UNMODIFIED"}


def declare(ds: pydicom.Dataset, profile: Profile) -> None:
    """PatientIdentityRemoved, DeidentificationMethod(CodeSequence) with exactly the options
    applied (CID 7050), and LongitudinalTemporalInformationModified."""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"{profile.name} {profile.version} (eucaim-transfer)"[:64]
    items = []
    for value, meaning in [
        BASIC_PROFILE_CODE,
        *((OPTIONS[o].code, OPTIONS[o].meaning) for o in profile.options),
    ]:
        item = pydicom.Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    ds.LongitudinalTemporalInformationModified = _TEMPORAL.get(profile.date_mode, "REMOVED")


def rebuild_file_meta(ds: pydicom.Dataset) -> None:
    """A fresh file meta group: nothing from the original's (source AE titles, etc.) survives."""
    old = getattr(ds, "file_meta", None)
    syntax = old.get("TransferSyntaxUID") if old is not None else None
    meta = FileMetaDataset()
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(str(syntax)) if syntax else ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    if hasattr(ds, "preamble"):
        ds.preamble = b"\x00" * 128  # a preamble can hold a TIFF header with identity
