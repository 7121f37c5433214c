"""Small helpers over pydicom elements for the engine: audit names, VRs, value lists."""

from __future__ import annotations

import functools

import pydicom
from pydicom.datadict import dictionary_keyword, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue

from eucaim.deid.descriptors import Scrubber

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"


@functools.lru_cache(maxsize=4096)
def audit_name(tag: int) -> str:
    """The keyword of ``tag`` for audit paths, or ``(gggg,eeee)`` when it has none."""
    try:
        keyword = dictionary_keyword(tag)
    except KeyError:
        keyword = ""
    return keyword or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def is_emptied_text_item(item: pydicom.Dataset) -> bool:
    """An SR TEXT item without its text, or a placed text object without its text."""
    if "ValueType" in item:  # an SR content item
        return bool(item.ValueType == "TEXT" and "TextValue" not in item)
    # a text object: its text is gone but its box or anchor is still there
    placed = "BoundingBoxTopLeftHandCorner" in item or "AnchorPoint" in item
    return placed and "UnformattedTextValue" not in item


def dictionary_vr(tag: int) -> str:
    """The dictionary VR of ``tag``, UN when unknown."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def vr_of(raw: DataElement | RawDataElement, tag: int) -> str:
    """The element's VR; explicit UN on a public tag is resolved from the dictionary, as pydicom does."""
    if raw.VR and raw.VR != "UN":
        return str(raw.VR)
    return dictionary_vr(tag)


def holds_identifier(raw: DataElement | RawDataElement, scrubber: Scrubber) -> bool:
    """Whether the element's value contains one of the patient's lettered identifiers."""
    value = raw.value
    if isinstance(value, bytes):
        return scrubber.found_in_bytes(value)
    return scrubber.found_in_bytes(str(value).encode("utf-8", "replace"))


def writes_implicit(ds: pydicom.Dataset) -> bool:
    """Whether ``ds`` will be written implicit VR little endian."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(syntax or "") == IMPLICIT_VR_LITTLE_ENDIAN


def value_list(value: object) -> list[object]:
    """An element value as a list (empty for no value)."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def set_values(elem: DataElement, values: list[str]) -> None:
    """Store ``values`` as a single value, a multi-value or no value."""
    elem.value = values[0] if len(values) == 1 else (values or None)
