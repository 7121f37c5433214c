"""Read what the node needs from a received Part-10 file: identity, de-identification flag, index values.

Pixel data is never loaded: pydicom stops before it, and only its element header is read, to check
that the file holds as many bytes as the header announces. Together with the announced lengths of
the other values this catches a file cut short almost anywhere; a cut that falls exactly between
two elements before the pixel data (or inside the first 8 bytes of such an element's header) looks
like a shorter, valid file and is not caught here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from eucaim.errors import InvalidDicomError
from eucaim.node.dicomweb.attributes import Level, stored_attributes

# Explicit-VR elements whose header carries a 4-byte length (PS3.5 §7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
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
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            # pydicom stops *before* the pixel data element, leaving the file positioned on it.
            pixel_at = f.tell()
            truncated = _values_cut(ds, size=size, stopped_at=pixel_at) or _pixel_data_cut(
                f, pixel_at, size, ds
            )
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


def _values_cut(ds: pydicom.Dataset, *, size: int, stopped_at: int) -> bool:
    """Return True when the element headers announce more, or other, bytes than the file holds.

    pydicom reads a short value, or a few stray bytes of a cut element header, without complaint,
    so the lengths the headers announce are checked against the file's size. ``stopped_at`` is
    where reading stopped (the pixel data element, or the end of the file).
    """
    last_end, last_at = 0, -1
    for tag in ds.keys():
        raw = ds.get_item(tag)
        if not isinstance(raw, RawDataElement):
            continue
        if raw.length != _UNDEFINED_LENGTH and raw.value_tell + raw.length > size:
            return True
        if raw.value_tell > last_at:
            last_at = raw.value_tell
            # After an undefined-length sequence its end is unknown, so stray bytes cannot be told.
            last_end = -1 if raw.length == _UNDEFINED_LENGTH else raw.value_tell + raw.length
    return stopped_at >= size and 0 <= last_end < size


def _pixel_data_cut(f: BinaryIO, at: int, size: int, ds: pydicom.Dataset) -> bool:
    """Return True when the pixel data element at ``at`` is cut short (its bytes are not read).

    A file that ends before the pixel data is not judged here (it may have none). Encapsulated
    (undefined-length) pixel data must end with the sequence delimitation item.
    """
    if at >= size:
        return False
    syntax = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
    implicit = syntax == ImplicitVRLittleEndian
    endian = ">" if syntax == ExplicitVRBigEndian else "<"
    header = f.read(8 if implicit else 12)
    if len(header) < (8 if implicit else 12):
        return True
    if implicit:
        length = struct.unpack(endian + "I", header[4:8])[0]
        value_at = at + 8
    elif header[4:6] in _LONG_VRS:
        length = struct.unpack(endian + "I", header[8:12])[0]
        value_at = at + 12
    else:
        length = struct.unpack(endian + "H", header[6:8])[0]
        value_at = at + 8
    if length == _UNDEFINED_LENGTH:
        f.seek(size - 8)
        delimiter = (b"\xfe\xff\xdd\xe0" if endian == "<" else b"\xff\xfe\xe0\xdd") + b"\0" * 4
        return f.read(8) != delimiter
    return bool(value_at + length > size)


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
