"""QIDO-RS queries, pure: parse query parameters into matches, and render result rows as DICOM JSON.

Supported matching (PS3.18 §8.3.4, PS3.4 C.2.2.2):

- single value, exact (case-sensitive), for every indexed attribute;
- wildcards ``*`` and ``?`` for text attributes (PN matches case-insensitively);
- list matching, values separated by ``,`` or ``\\``, for UI and CS attributes (UIDs, Modality,
  ModalitiesInStudy, PatientSex);
- range matching for dates: ``20240101-20241231``, ``20240101-``, ``-20241231``.

``limit``/``offset`` page the results; ``includefield`` (repeated or comma-separated, keywords or
tags, or ``all``) adds optional attributes; ``fuzzymatching`` is accepted and ignored (off).
A parameter naming an attribute the node does not index is refused (400) rather than ignored, so a
filter the caller relies on is never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eucaim.dicomweb.store_response import DicomJson, element
from eucaim.node.dicomweb.attributes import (
    RETRIEVE_URL_TAG,
    Attribute,
    Level,
    attributes_up_to,
    find_attribute,
)
from eucaim.node.errors import InvalidRequest

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_DATE = re.compile(r"^\d{8}$")
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
# The UIDs of the levels above always come along, so each result says where it belongs.
_PARENT_UIDS = {
    Level.STUDY: frozenset(),
    Level.SERIES: frozenset({"StudyInstanceUID"}),
    Level.INSTANCE: frozenset({"StudyInstanceUID", "SeriesInstanceUID"}),
}


@dataclass(frozen=True)
class Match:
    """One matching condition; exactly one of the value forms is set."""

    attribute: Attribute
    values: tuple[str, ...] = ()
    pattern: str | None = None
    date_range: tuple[str | None, str | None] | None = None


@dataclass(frozen=True)
class QidoQuery:
    """A parsed QIDO-RS request at one level."""

    level: Level
    matches: tuple[Match, ...]
    include: frozenset[str]
    limit: int
    offset: int


def parse_query(level: Level, params: Iterable[tuple[str, str]]) -> QidoQuery:
    """Parse query parameters for a search at ``level``.

    Raises:
        InvalidRequest: an unknown parameter, an attribute of a lower level, or a malformed value.
    """
    allowed = {a.keyword for a in attributes_up_to(level)}
    matches: list[Match] = []
    include: set[str] = set()
    limit, offset = DEFAULT_LIMIT, 0
    for name, value in params:
        if name in _CONTROL:
            if name == "limit":
                limit = _integer(name, value, minimum=1, maximum=MAX_LIMIT)
            elif name == "offset":
                offset = _integer(name, value, minimum=0, maximum=None)
            elif name == "includefield":
                include |= _include_fields(value, allowed)
            continue
        attribute = find_attribute(name)
        if attribute is None or attribute.keyword not in allowed:
            raise InvalidRequest(
                f"query parameter {name!r} is not a matching key this node supports at {level} level",
                parameter=name,
                hint=f"supported: {', '.join(sorted(allowed))}",
            )
        if value == "":
            continue  # an empty value asks for the attribute to be returned, matching everything
        matches.append(_match(attribute, value))
        include.add(attribute.keyword)
    return QidoQuery(level, tuple(matches), frozenset(include), limit, offset)


def _integer(name: str, value: str, *, minimum: int, maximum: int | None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {value!r}", parameter=name) from None
    if number < minimum:
        raise InvalidRequest(f"{name} must be at least {minimum}", parameter=name)
    return min(number, maximum) if maximum is not None else number


def _include_fields(value: str, allowed: set[str]) -> set[str]:
    names = {v.strip() for v in value.split(",") if v.strip()}
    if "all" in names:
        return set(allowed)
    # Unknown includefield names are ignored, as PS3.18 lets a server return what it has.
    return {a.keyword for n in names if (a := find_attribute(n)) is not None and a.keyword in allowed}


def _match(attribute: Attribute, value: str) -> Match:
    if attribute.vr == "DA":
        return _date_match(attribute, value)
    if attribute.vr in ("UI", "CS"):
        values = tuple(v.strip() for v in re.split(r"[,\\]", value) if v.strip())
        if attribute.vr == "CS" and any(c in value for c in "*?") and len(values) == 1:
            return Match(attribute, pattern=values[0])
        return Match(attribute, values=values)
    if attribute.vr in ("IS", "US"):
        _integer(attribute.keyword, value, minimum=-(2**31), maximum=None)
        return Match(attribute, values=(value.strip(),))
    if any(c in value for c in "*?"):
        return Match(attribute, pattern=value)
    return Match(attribute, values=(value,))


def _date_match(attribute: Attribute, value: str) -> Match:
    if "-" not in value:
        if not _DATE.match(value):
            raise InvalidRequest(
                f"{attribute.keyword} must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD, got {value!r}",
                parameter=attribute.keyword,
            )
        return Match(attribute, values=(value,))
    low, _, high = value.partition("-")
    for bound in (low, high):
        if bound and not _DATE.match(bound):
            raise InvalidRequest(
                f"{attribute.keyword} range bound {bound!r} is not YYYYMMDD", parameter=attribute.keyword
            )
    if not low and not high:
        raise InvalidRequest(f"{attribute.keyword} range '-' has no bounds", parameter=attribute.keyword)
    return Match(attribute, date_range=(low or None, high or None))


def like_pattern(pattern: str) -> str:
    """Translate a DICOM wildcard pattern to SQL LIKE, escaping LIKE's own specials with ``\\``."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def render(level: Level, values: Mapping[str, Any], include: frozenset[str], retrieve_url: str) -> DicomJson:
    """Return one QIDO result as DICOM JSON.

    ``values`` maps keywords to values (None for unknown); an attribute is returned when it is a
    default of ``level`` or named in ``include``. Returned attributes without a value are empty.
    """
    body: DicomJson = {}
    for attribute in attributes_up_to(level):
        wanted = (
            (attribute.level is level and attribute.default)
            or attribute.keyword in include
            or attribute.keyword in _PARENT_UIDS[level]
        )
        if not wanted:
            continue
        body[attribute.tag] = _element(attribute, values.get(attribute.keyword))
    body[RETRIEVE_URL_TAG] = element("UR", retrieve_url)
    return dict(sorted(body.items()))


def _element(attribute: Attribute, value: Any) -> DicomJson:
    if value is None or value == "" or value == []:
        return element(attribute.vr)
    if attribute.vr == "PN":
        return element("PN", {"Alphabetic": str(value)})
    if isinstance(value, list):
        return element(attribute.vr, *value)
    if attribute.vr in ("IS", "US"):
        return element(attribute.vr, int(value))
    return element(attribute.vr, str(value))
