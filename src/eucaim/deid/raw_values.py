"""UID, date and time values changed on their raw bytes, without pydicom's decode/encode round trip.

A CT file has some twenty UIDs, dates and times that the engine rewrites. Letting pydicom decode
each one (``Dataset.__getitem__``: VR lookup, hooks, a DataElement, validation) and encode it
again costs more than everything else the engine does. For these four VRs the decoding is plain
ASCII splitting, so this module mirrors it exactly and hands back a raw element that holds the
new value already encoded, byte for byte what pydicom's writer would produce.

It only steps in where mirroring is certain: a value pydicom would warn about (an invalid UID or
date) is left to pydicom, so the warnings the audit counts stay the same.
"""

from __future__ import annotations

from collections.abc import Callable

from pydicom import config
from pydicom.dataelem import RawDataElement
from pydicom.valuerep import VALIDATORS

# VRs whose values are decoded as ASCII text split on backslashes (PS3.5 6.2), and how pydicom
# pads them to even length when writing.
RAW_CHANGED_VRS = frozenset({"UI", "DA", "DT", "TM"})
_PAD = {"UI": b"\0", "DA": b" ", "DT": b" ", "TM": b" "}
# pydicom's own checks, which return (valid, message) where validate_value would warn.
_VALIDATE: dict[str, Callable[[str, str], tuple[bool, str]]] = {vr: VALIDATORS[vr] for vr in RAW_CHANGED_VRS}


def decoded_items(raw: RawDataElement, vr: str) -> list[str] | None:
    """The values pydicom would decode from ``raw``, or None where this module must not mirror it.

    None when the element is not a plain raw ``vr`` value, when pydicom is set to convert dates to
    datetime objects, or when any value fails pydicom's own validation (it would warn).
    """
    value = raw.value
    if vr not in RAW_CHANGED_VRS or not isinstance(value, bytes) or raw.VR not in (vr, None):
        return None
    if config.datetime_conversion and vr != "UI":
        return None
    # convert_UI / convert_string: the default repertoire, trailing padding dropped, then split.
    text = value.decode("latin-1")
    items = (text.rstrip("\0 ") if vr == "UI" else text).rstrip(" \x00").split("\\")
    validate = _VALIDATE[vr]
    for item in items:
        if not validate(vr, item)[0] or (vr == "UI" and item != item.strip()):
            return None
    return items


def as_value_list(items: list[str]) -> list[str]:
    """What ``elements.value_list`` gives for the decoded value: nothing for one empty value."""
    return [] if items == [""] else items


def encoded(raw: RawDataElement, vr: str, values: list[str]) -> RawDataElement:
    """``raw`` holding ``values`` as pydicom writes them: backslash-joined, padded to even length."""
    data = "\\".join(values).encode("ascii")
    if len(data) % 2:
        data += _PAD[vr]
    # Not raw._replace(): namedtuple's _replace costs more than the rest of this function.
    return RawDataElement(
        raw.tag, vr, len(data), data, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian
    )
