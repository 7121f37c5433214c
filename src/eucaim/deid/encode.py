"""Part 10 bytes of a de-identified dataset: pydicom's encoding, without pydicom's per-element cost.

pydicom's writer spends most of a de-identification's time here: every element, even one kept
as read, goes through a scratch buffer, a writer lookup and several small writes. This module
writes the same bytes with one ``struct.pack`` per element for the cases that make up nearly
every file (little endian, kept elements as read, ASCII strings, sequences), and hands anything
else to pydicom's own functions: a dataset whose encoding or character set changed, numbers,
non-ASCII text, person names, odd VRs. A file it cannot vouch for at all (big endian, deflated,
an unusual file meta) is written by ``pydicom.dcmwrite`` whole.

"The same bytes" is the contract: ``tests/unit/deid/test_fast_path.py`` compares both writers on
pydicom's test files, the synthetic cohort and a DICOM-SEG.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from io import BytesIO

import pydicom
from pydicom.charset import convert_encodings, python_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, PersonName

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_PIXEL_DATA = 0x7FE00010
_CHARSET = 0x00080005
_UNDEFINED = 0xFFFFFFFF
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_ITEM_TAG = b"\xfe\xff\x00\xe0"
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
# VRs pydicom writes with write_string / write_UI (padding in the value) or write_text (charset).
_STRING_PAD = {
    "AE": b" ",
    "AS": b" ",
    "CS": b" ",
    "DA": b" ",
    "DT": b" ",
    "TM": b" ",
    "UR": b" ",
    "UI": b"\0",
}
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
_PADDED_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
_NUMBER_FORMATS = {
    vr: struct.Struct("<" + code).pack
    for vr, code in (("US", "H"), ("SS", "h"), ("UL", "L"), ("SL", "l"), ("FL", "f"), ("FD", "d"))
}
# Every DICOM character set keeps ASCII as ASCII (ISO 2022 starts in G0 = ASCII): ASCII text
# encodes to itself whatever the Specific Character Set says.
_ASCII_SAFE_CODECS = frozenset(python_encoding.values())
_META_TAGS = (0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013)
_PREAMBLE = b"\0" * 128 + b"DICM"
_LARGE = 1 << 16  # values this long are passed on, not copied into a joined piece
_short_header = struct.Struct("<HH2sH").pack
_long_header = struct.Struct("<HH2s2xL").pack
_implicit_header = struct.Struct("<HHL").pack


class _Unsupported(Exception):
    """This file is not one the fast writer vouches for: let pydicom write it whole."""


def encode_part10(ds: pydicom.Dataset) -> bytes:
    """The Part 10 file of ``ds`` (preamble, file meta, dataset), as ``ds.save_as`` would write it.

    ``ds.file_meta`` must already be rebuilt (``declare.rebuild_file_meta``). Raises what
    ``save_as`` raises for a dataset it cannot encode.
    """
    return b"".join(encode_part10_parts(ds))


def encode_part10_parts(ds: pydicom.Dataset) -> list[bytes]:
    """``encode_part10`` in consecutive pieces, large values (pixel data) as they were read.

    Hashing and writing the pieces in turn spares a copy of the whole file.
    """
    try:
        chunks = _encode_fast(ds)
    except _Unsupported:
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return [buffer.getvalue()]
    parts: list[bytes] = []
    small: list[bytes] = []
    for chunk in chunks:
        if len(chunk) < _LARGE:
            small.append(chunk)
            continue
        if small:
            parts.append(b"".join(small))
            small = []
        parts.append(chunk)
    if small:
        parts.append(b"".join(small))
    return parts


def _encode_fast(ds: pydicom.Dataset) -> list[bytes]:
    meta = getattr(ds, "file_meta", None)
    preamble = getattr(ds, "preamble", None)
    if meta is None or preamble not in (None, b"\0" * 128):
        raise _Unsupported
    syntax = str(meta.get("TransferSyntaxUID", ""))
    if syntax not in (_IMPLICIT_LE, _EXPLICIT_LE):
        raise _Unsupported  # big endian and deflated stay with pydicom
    if any(tag >> 16 in (0, 2) for tag in ds._dict):
        raise _Unsupported  # dcmwrite refuses these; let it say so
    if ds.get("SOPClassUID") != meta.get("MediaStorageSOPClassUID") or ds.get("SOPInstanceUID") != meta.get(
        "MediaStorageSOPInstanceUID"
    ):
        raise _Unsupported  # dcmwrite would update the file meta first
    chunks: list[bytes] = [_PREAMBLE, _file_meta(meta)]
    implicit = syntax == _IMPLICIT_LE
    _write_dataset(chunks, ds, implicit, "iso8859", top=True)
    return chunks


def _file_meta(meta: pydicom.Dataset) -> bytes:
    """Group 2 as write_file_meta_info writes it for the five elements rebuild_file_meta sets."""
    if sorted(meta._dict) != list(_META_TAGS):
        raise _Unsupported
    body = [_long_header(2, 1, b"OB", 2), b"\x00\x01"]
    for tag in _META_TAGS:
        value = meta.get_item(tag).value
        if not isinstance(value, str) or not value or not value.isascii():
            raise _Unsupported
        data = value.encode("ascii")
        if len(data) % 2:
            data += b"\0" if tag != 0x00020013 else b" "
        vr = b"SH" if tag == 0x00020013 else b"UI"
        body.append(_short_header(2, tag & 0xFFFF, vr, len(data)))
        body.append(data)
    content = b"".join(body)
    return _short_header(2, 0, b"UL", 4) + _ul(len(content)) + content


def _ul(value: int) -> bytes:
    return struct.pack("<L", value)


def _write_dataset(
    chunks: list[bytes], ds: pydicom.Dataset, implicit: bool, parent: str | list[str], *, top: bool = False
) -> None:
    """Mirror of ``pydicom.filewriter.write_dataset`` for a little endian ``ds``."""
    if _CHARSET in ds._dict:
        charset_changed = ds.original_character_set != ds._character_set
        encodings: str | list[str] = ds.get("SpecificCharacterSet", parent)
    else:  # what those two properties and ds.get come to, without three lookups by Tag
        charset_changed = ds._read_charset != ds._parent_encoding
        encodings = parent
    if (ds.original_encoding != (implicit, True) or charset_changed) and not _all_decoded(ds):
        # pydicom decodes and re-encodes every element of such a dataset (and corrects
        # ambiguous VRs at every depth): let it. A dataset built in memory has nothing to decode.
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = implicit, True
        write_dataset(fp, ds, parent)
        chunks.append(fp.getvalue())
        return
    elements = ds._dict
    for tag in sorted(elements):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 and group > 6:
            continue  # pydicom never writes retired group lengths
        elem = elements[tag]
        if isinstance(elem, RawDataElement) and elem.value is None:
            elem = ds[tag]  # as Dataset.get_item does: a value not read yet is read now
        if isinstance(elem, RawDataElement):
            _write_raw(chunks, elem, group, element, implicit, top)
        elif top and tag == _PIXEL_DATA and elem.is_undefined_length:
            raise _Unsupported  # dcmwrite would give it a defined length first
        elif elem.VR == "SQ":
            _write_sequence(chunks, elem, group, element, implicit, encodings)
        else:
            _write_value(chunks, elem, group, element, implicit, encodings)


def _all_decoded(ds: pydicom.Dataset) -> bool:
    """No raw element, no sequence, no ambiguous VR: pydicom's re-encoding pass has nothing to do."""
    return all(
        not isinstance(e, RawDataElement) and e.VR != "SQ" and len(e.VR) == 2 for e in ds._dict.values()
    )


def _header(group: int, element: int, vr: str, length: int, implicit: bool) -> bytes:
    if implicit:
        return _implicit_header(group, element, length)
    if vr in _LONG_VRS or length == _UNDEFINED:
        return _long_header(group, element, vr.encode("ascii"), length)
    return _short_header(group, element, vr.encode("ascii"), length)


def _write_raw(
    chunks: list[bytes], raw: RawDataElement, group: int, element: int, implicit: bool, top: bool
) -> None:
    """A kept element: its bytes as read, behind a header pydicom would write."""
    value, vr = raw.value, raw.VR
    if not isinstance(value, bytes) or (not implicit and (vr is None or len(vr) != 2)):
        raise _Unsupported
    undefined = raw.length == _UNDEFINED
    if top and raw.tag == _PIXEL_DATA:
        # dcmwrite turns PixelData into a DataElement first and, the syntax being native, gives
        # it a defined length; OB and OW values are padded to even length.
        if vr not in ("OB", "OW") and not implicit:
            raise _Unsupported
        undefined = False
        if len(value) % 2:
            value += b"\0"
    elif undefined:
        raise _Unsupported
    if not implicit and not undefined and vr not in _LONG_VRS and len(value) > 0xFFFF:
        raise _Unsupported  # pydicom rewrites such an element as UN
    chunks.append(_header(group, element, str(vr), _UNDEFINED if undefined else len(value), implicit))
    chunks.append(value)
    if undefined:
        chunks.append(_SEQUENCE_DELIMITER)


def _write_sequence(
    chunks: list[bytes],
    elem: DataElement,
    group: int,
    element: int,
    implicit: bool,
    encodings: str | list[str],
) -> None:
    items: list[bytes] = []
    codecs = _codecs(encodings)
    for item in elem.value:
        body: list[bytes] = []
        _write_dataset(body, item, implicit, codecs)
        content = b"".join(body)
        if getattr(item, "is_undefined_length_sequence_item", False):
            items += [_ITEM_TAG, _ul(_UNDEFINED), content, _ITEM_DELIMITER]
        else:
            items += [_ITEM_TAG, _ul(len(content)), content]
    value = b"".join(items)
    if elem.is_undefined_length:
        chunks += [_header(group, element, "SQ", _UNDEFINED, implicit), value, _SEQUENCE_DELIMITER]
    else:
        chunks += [_header(group, element, "SQ", len(value), implicit), value]


def _write_value(
    chunks: list[bytes],
    elem: DataElement,
    group: int,
    element: int,
    implicit: bool,
    encodings: str | list[str],
) -> None:
    """A changed or decoded element: common values here, everything else through pydicom."""
    data = _value_bytes(elem, encodings)
    if (
        data is None
        or elem.is_undefined_length
        or elem.is_buffered
        or (not implicit and elem.VR not in _LONG_VRS and len(data) > 0xFFFF)
    ):
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = implicit, True
        write_data_element(fp, elem, encodings)
        chunks.append(fp.getvalue())
        return
    chunks.append(_header(group, element, elem.VR, len(data), implicit))
    chunks.append(data)


def _value_bytes(elem: DataElement, encodings: str | list[str]) -> bytes | None:
    """The encoded value of a common element, or None when pydicom must encode it."""
    vr, value = elem.VR, elem.value
    if value is None or (isinstance(value, str | bytes | MultiValue | list) and len(value) == 0):
        return b""  # pydicom writes no value for an empty element, whatever its VR
    # (No `value == ""`: a numpy array would compare element-wise and raise.)
    number = _NUMBER_FORMATS.get(vr)
    if number is not None:
        if type(value) not in (int, float):
            return None
        try:
            return number(value)
        except struct.error:
            return None  # out of range: pydicom says so
    if isinstance(value, bytes):
        if vr == "UN":
            return value
        if vr not in _PADDED_BINARY_VRS:
            return None
        return value + b"\0" if len(value) % 2 else value
    if vr == "PN":
        if not isinstance(value, PersonName) or value.original_string is not None:
            return None
        text = str(value)
        if "=" in text:
            return None  # component groups: pydicom trims empty ones
        vr = "LO"  # an ASCII name encodes like text
    elif isinstance(value, str):
        text = value
    elif isinstance(value, MultiValue | list) and all(isinstance(v, str) for v in value):
        text = "\\".join(value)
    else:
        return None
    if not text.isascii():
        return None
    pad = _STRING_PAD.get(vr)
    if pad is None:
        if vr not in _TEXT_VRS or not _ascii_safe(_as_key(encodings)):
            return None
        pad = b" "
    data = text.encode("ascii")
    return data + pad if len(data) % 2 else data


def _as_key(encodings: str | Sequence[str]) -> tuple[str, ...]:
    return (encodings,) if isinstance(encodings, str) else tuple(encodings)


@functools.lru_cache(maxsize=64)
def _ascii_safe(encodings: tuple[str, ...]) -> bool:
    return convert_encodings(list(encodings))[0] in _ASCII_SAFE_CODECS


def _codecs(encodings: str | list[str]) -> list[str]:
    """What write_data_element hands a sequence's items: the parent's encodings, converted."""
    return list(_converted(_as_key(encodings or "iso8859")))


@functools.lru_cache(maxsize=64)
def _converted(encodings: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(convert_encodings(list(encodings)))
