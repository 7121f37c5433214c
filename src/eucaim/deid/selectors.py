"""Parsing the selectors a profile override can use: keyword, tag, VR, private element, path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, tag_for_keyword

_TAG = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$")
_VRS = frozenset(
    [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    ]
)


@dataclass(frozen=True)
class Selector:
    """What an override applies to. Exactly one of the fields describes the match."""

    kind: str  # "tag", "vr", "private" or "path"
    tag: int = 0
    vr: str = ""
    creator: str = ""
    group: int = 0
    offset: int = 0
    path: tuple[int, ...] = ()


def _tag(text: str) -> int:
    match = _TAG.match(text.strip())
    if match:
        return int(match[1] + match[2], 16)
    tag = tag_for_keyword(text.strip())
    if tag is None:
        raise ValueError(f"{text!r} is neither a DICOM keyword nor a tag like (0010,0010)")
    return tag


def parse_selector(text: str) -> Selector:
    """Parse one override selector; raise ValueError with the accepted forms if it is malformed."""
    if text.startswith("vr:"):
        vr = text[3:].strip().upper()
        if vr not in _VRS:
            raise ValueError(f"unknown VR {vr!r}")
        return Selector("vr", vr=vr)
    if text.startswith("private:"):
        parts = [p.strip() for p in text[8:].rsplit(",", 2)]
        if len(parts) != 3 or not re.fullmatch(r"[0-9A-Fa-f]{4}", parts[1]):
            raise ValueError("private selectors look like private:CREATOR,gggg,ee (odd group, hex offset)")
        group, offset = int(parts[1], 16), int(parts[2], 16)
        if group % 2 == 0 or not 0 <= offset <= 0xFF:
            raise ValueError("private selectors need an odd group and an offset 00-FF")
        return Selector("private", creator=parts[0], group=group, offset=offset)
    if text.startswith("path:"):
        tags = tuple(_tag(p) for p in text[5:].split("/") if p.strip())
        if not tags:
            raise ValueError("a path selector needs at least one element")
        for tag in tags[:-1]:
            if _vr_of(tag) != "SQ":
                raise ValueError(f"path element {tag:08X} is not a sequence")
        return Selector("path", path=tags)
    return Selector("tag", tag=_tag(text))


def _vr_of(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return ""
