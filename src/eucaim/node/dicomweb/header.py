"""Read what the node needs from a received Part-10 file: identity, de-identification flag, index values.

Reading stops short of nothing: the whole file is walked (large values skipped with a seek, not
loaded) so a file cut short is caught here instead of being stored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

from eucaim.errors import InvalidDicomError
from eucaim.node.dicomweb.attributes import Level, stored_attributes

# Values above this size are skipped with a seek while reading, so pixel data is never loaded.
_DEFER_SIZE = 4096
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class InstanceHeader:
    """The identity of a received instance and the values the index stores for it."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    patient_identity_removed: str | None
    study_values: dict[str, Any] = field(default_factory=dict)
    series_values: dict[str, Any] = field(default_factory=dict)
    instance_values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartialIdentity:
    """The UIDs that could be read from an instance that is otherwise unusable."""

    sop_class_uid: str | None
    sop_instance_uid: str | None


class UnreadableInstance(InvalidDicomError):
    """A received part is not usable DICOM; carries any UIDs that could still be read."""

    def __init__(self, message: str, *, identity: PartialIdentity, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.identity = identity


def read_instance_header(path: Path) -> InstanceHeader:
    """Read a received Part-10 file.

    Raises:
        UnreadableInstance: not Part-10 DICOM, truncated, or missing one of the four identifying UIDs.
    """
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            ds = pydicom.dcmread(f, defer_size=_DEFER_SIZE)
            # Deferred values are skipped with seek(), which goes past the end of a short file
            # without complaint; a position beyond the size means the file was cut short.
            truncated = f.tell() > size or _end_of_values(ds) > size
    except PydicomInvalidDicomError:
        raise UnreadableInstance(
            "not a DICOM Part-10 file (no 'DICM' preamble)",
            identity=PartialIdentity(None, None),
            reason="not_dicom",
        ) from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, NotImplementedError, struct.error) as exc:
        raise UnreadableInstance(
            f"DICOM data cannot be parsed: {type(exc).__name__}",
            identity=PartialIdentity(None, None),
            reason="unreadable",
        ) from None
    return header_from_dataset(ds, truncated=truncated)


def _end_of_values(ds: pydicom.Dataset) -> int:
    """Return where the last top-level value with a known length ends, per its element header.

    pydicom reads a short value without complaint, so a file cut inside a small value is only
    noticed by comparing the lengths its headers announce with the file's size.
    """
    end = 0
    for tag in ds.keys():
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH:
            end = max(end, raw.value_tell + raw.length)
    return end


def header_from_dataset(ds: pydicom.Dataset, *, truncated: bool = False) -> InstanceHeader:
    """Return the header of a dataset read with its file meta (pure)."""
    identity = PartialIdentity(_text(ds, "SOPClassUID"), _text(ds, "SOPInstanceUID"))
    if truncated:
        raise UnreadableInstance("DICOM file is truncated", identity=identity, reason="truncated")
    transfer_syntax = _text(ds.file_meta, "TransferSyntaxUID") if ds.file_meta else None
    required = {
        "SOPClassUID": identity.sop_class_uid,
        "SOPInstanceUID": identity.sop_instance_uid,
        "StudyInstanceUID": _text(ds, "StudyInstanceUID"),
        "SeriesInstanceUID": _text(ds, "SeriesInstanceUID"),
        "TransferSyntaxUID": transfer_syntax,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise UnreadableInstance(
            f"required attribute(s) missing: {', '.join(missing)}",
            identity=identity,
            reason="missing_attribute",
        )
    return InstanceHeader(
        sop_class_uid=str(required["SOPClassUID"]),
        sop_instance_uid=str(required["SOPInstanceUID"]),
        study_instance_uid=str(required["StudyInstanceUID"]),
        series_instance_uid=str(required["SeriesInstanceUID"]),
        transfer_syntax_uid=str(transfer_syntax),
        patient_identity_removed=_text(ds, "PatientIdentityRemoved"),
        study_values=_level_values(ds, Level.STUDY),
        series_values=_level_values(ds, Level.SERIES),
        instance_values=_level_values(ds, Level.INSTANCE) | {"transfer_syntax_uid": transfer_syntax},
    )


def _level_values(ds: pydicom.Dataset, level: Level) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in stored_attributes(level):
        if attribute.keyword == "AvailableTransferSyntaxUID":
            continue
        if attribute.vr in ("IS", "US"):
            values[str(attribute.column)] = _integer(ds, attribute.keyword)
        else:
            text = _text(ds, attribute.keyword)
            values[str(attribute.column)] = text[: attribute.max_length] if text else None
    return values


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed value of an attribute we only index must not refuse the instance
        return None
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    return str(value).strip() or None if value is not None else None


def _integer(ds: pydicom.Dataset, keyword: str) -> int | None:
    text = _text(ds, keyword)
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None
