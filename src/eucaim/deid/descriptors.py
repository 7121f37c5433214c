"""Clean Descriptors: scrub free-text descriptions of identifying values and ID/date patterns.

A description such as ``"CT THORAX DOE JOHN 12345678 03/05/2019"`` keeps its clinical meaning
(``"CT THORAX"``) once the dataset's own names, IDs and dates, and anything shaped like an ID or
a date, are taken out. Pure: the identifying values are passed in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

# Attributes whose values identify the patient, staff or site; their values (and name parts) are
# scrubbed from every cleaned description of the same dataset.
IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthDate",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "RequestingPhysician",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
)
IDENTIFYING_TAGS = tuple(int(tag_for_keyword(k) or 0) for k in IDENTIFYING_KEYWORDS)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_PATTERNS = (
    re.compile(r"\b\d{4}[-./]\d{1,2}[-./]\d{1,2}\b"),  # 2019-05-03, 2019.05.03
    re.compile(r"\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"),  # 03/05/2019, 3.5.19
    re.compile(rf"\b\d{{1,2}}\s*(?:{_MONTHS})[a-z]*\.?\s*\d{{2,4}}\b", re.IGNORECASE),  # 3 May 2019
    re.compile(rf"\b(?:{_MONTHS})[a-z]*\.?\s+\d{{1,2}},?\s+\d{{4}}\b", re.IGNORECASE),  # May 3, 2019
    re.compile(r"\b[A-Za-z]{0,4}\d{5,}[A-Za-z]{0,4}\b"),  # MRN-like runs of five or more digits
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_MIN_NAME_PART = 3
_UNBOUNDED_FROM = 6  # shorter name parts ("LI", "MR") match too many clinical words


def _texts(value: object) -> Iterable[str]:
    if value is None:
        return
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        for v in value:
            yield from _texts(v)
        return
    text = str(value).strip()
    if text:
        yield text


def _variants(text: str) -> Iterable[str]:
    yield text
    parts = [p for p in re.split(r"[\^=,\s]+", text) if len(p) >= _MIN_NAME_PART]
    yield from parts
    if re.fullmatch(r"\d{8}", text):  # a DA value: also its common spellings
        y, m, d = text[:4], text[4:6], text[6:]
        yield from (f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}", f"{d}-{m}-{y}", f"{y}-{m}-{d}")


def collect_identifiers(ds: pydicom.Dataset, tags: Iterable[int] | None = None) -> frozenset[str]:
    """The identifying strings of ``ds`` (top level) that cleaned descriptions must not contain.

    ``tags`` narrows ``IDENTIFYING_TAGS`` to those the profile does not keep (a profile that
    retains institution identity must not then scrub the institution's name).
    """
    found: set[str] = set()
    elements = ds._dict  # by int: `tag in ds` and get_item() each build a Tag first
    for tag in IDENTIFYING_TAGS if tags is None else tags:
        raw = elements.get(BaseTag(tag))
        if raw is None:
            continue
        if raw.value is None and isinstance(raw, RawDataElement):
            raw = ds[tag]  # as get_item does: a value not read yet is read now
        value: object = raw.value
        if isinstance(value, bytes) and value.isascii() and b"\x1b" not in value:
            # ASCII reads the same in every character set (bar ISO 2022 escapes): skip
            # pydicom's decoding on this hot path.
            value = value.decode("ascii").strip(" \x00").split("\\")
        elif not isinstance(raw, pydicom.DataElement) or isinstance(value, bytes):
            value = ds[tag].value
        for text in _texts(value):
            found.update(_text_variants(text))
    return frozenset(found)


@functools.lru_cache(maxsize=4096)
def _text_variants(text: str) -> tuple[str, ...]:
    """The variants of one identifying value; a series repeats the same values file after file."""
    return tuple(v.strip() for v in _variants(text) if v.strip())


@functools.lru_cache(maxsize=256)
def _compile(identifiers: frozenset[str]) -> tuple[re.Pattern[str] | None, re.Pattern[bytes] | None]:
    """The text and byte patterns for one set of identifiers."""
    # Values under three characters ("1", "AB") identify no one and match everywhere.
    words = sorted({w for w in identifiers if len(w) >= _MIN_NAME_PART}, key=len, reverse=True)
    # Long values (whole names, IDs, dates) go wherever they appear, even run into other
    # text; short ones (name parts) only as words, bounded by anything but a letter or
    # digit, so "DOE_JOHN" and "JOHN-T1" match but "DOEBLIN" does not.
    patterns = [
        re.escape(w) if len(w) >= _UNBOUNDED_FROM else rf"(?<![^\W_]){re.escape(w)}(?![^\W_])" for w in words
    ]
    text = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None
    # Byte patterns for values kept undecoded; only identifiers with a letter in them, since
    # a numeric ID would match ordinary numbers (a PatientID "120" and a KVP of 120).
    lettered = [w for w in words if re.search(r"[^\W\d_]", w)]
    data = (
        re.compile(
            b"|".join(
                rb"(?<![A-Za-z0-9])" + re.escape(w.encode("utf-8", "replace")) + rb"(?![A-Za-z0-9])"
                for w in lettered
            ),
            re.IGNORECASE,
        )
        if lettered
        else None
    )
    return text, data


class Scrubber:
    """Removes a fixed set of identifying values and the generic ID/date patterns from text."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        # Instances of one study share their identifiers: compile once per set.
        self._values, self._bytes = _compile(frozenset(identifiers))

    def found_in_bytes(self, data: bytes) -> bool:
        """Whether raw value bytes contain one of the identifiers that have a letter in them."""
        return self._bytes is not None and self._bytes.search(data) is not None

    def remove_identifiers(self, text: str) -> str:
        """``text`` without the dataset's own identifying values (no generic patterns)."""
        if self._values is None or not self._values.search(text):
            return text
        return re.sub(r"\s+", " ", self._values.sub(" ", text)).strip()

    def scrub(self, text: str) -> str:
        """``text`` without identifying values and patterns, whitespace collapsed."""
        # E-mail addresses first, so they go whole rather than losing a name from their middle;
        # then the dataset's own values (whole IDs before their digit runs); then the patterns.
        text = _EMAIL.sub(" ", text)
        if self._values is not None:
            text = self._values.sub(" ", text)
        for pattern in _PATTERNS:
            text = pattern.sub(" ", text)
        text = re.sub(r"\s+([,;:.])", r"\1", re.sub(r"\s+", " ", text))
        return text.strip(" -_,;:/")
