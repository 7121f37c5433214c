"""Harmonisation: raw DICOM and clinical values to the coded terms aggregates are counted by.

The tables live in ``data/harmonisation.json`` (data, not code), loaded once and read-only.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

UNKNOWN = "Unknown"


@dataclass(frozen=True, order=True)
class Term:
    """A harmonised value: ``label`` always, ``code`` and ``system`` when the vocabulary has one."""

    label: str
    code: str | None = None
    system: str | None = None

    @property
    def is_unknown(self) -> bool:
        """Return True for the term that stands for a missing or empty value."""
        return self.label == UNKNOWN and self.code is None


UNKNOWN_TERM = Term(UNKNOWN)
OTHER_MANUFACTURER = Term("Other")


@functools.cache
def _tables() -> dict[str, Any]:
    text = resources.files("eucaim.catalogue").joinpath("data/harmonisation.json").read_text("utf-8")
    tables: dict[str, Any] = json.loads(text)
    return tables


def _clean(raw: str | None) -> str:
    return (raw or "").strip()


def modality_term(raw: str | None) -> Term:
    """Return the term of a DICOM Modality value; an unlisted value keeps its own name."""
    value = _clean(raw).upper()
    if not value:
        return UNKNOWN_TERM
    entry = _tables()["modality"].get(value)
    if entry is None:
        return Term(value, value, "DCM")
    return Term(entry["label"], entry["code"], entry["system"])


def body_part_term(raw: str | None) -> Term:
    """Return the term of a BodyPartExamined value (spaces, dashes and case ignored)."""
    value = re.sub(r"[\s_\-]+", "", _clean(raw).upper())
    if not value:
        return UNKNOWN_TERM
    entry = _tables()["bodyPart"].get(value)
    if entry is None:
        return Term(value.capitalize())
    return Term(entry["label"], entry["code"], "SNOMED-CT")


def manufacturer_term(raw: str | None) -> Term:
    """Return the manufacturer group of a Manufacturer value ("Other" when none matches)."""
    value = _clean(raw).lower()
    if not value:
        return UNKNOWN_TERM
    for group in _tables()["manufacturer"]:
        if value in group.get("exact", ()) or any(p in value for p in group["patterns"]):
            return Term(group["label"])
    return OTHER_MANUFACTURER


def sex_term(raw: str | None) -> Term:
    """Return the term of a sex from DICOM (M/F/O) or clinical data (MALE, female, ...)."""
    value = _clean(raw).upper()
    if not value:
        return UNKNOWN_TERM
    for key, entry in _tables()["sex"].items():
        if value == key or value in entry["aliases"]:
            return Term(entry["label"], entry["code"], entry["system"])
    return UNKNOWN_TERM


def diagnosis_term(raw: str | None) -> Term:
    """Return the term of a clinical diagnosis as given (codes such as ICD-O-3 are kept verbatim)."""
    value = _clean(raw)
    return Term(value) if value else UNKNOWN_TERM


def find_terms(kind: str, query: str) -> set[str]:
    """Return the labels of ``kind`` ("modality", "bodyPart", "sex", "manufacturer") ``query`` names.

    A query matches a term by its label, its code or a raw value that harmonises to it, without
    regard to case, so ``CT``, ``Computed Tomography`` and ``ct`` all find CT.
    """
    q = query.strip()
    by_kind = {
        "modality": modality_term,
        "bodyPart": body_part_term,
        "manufacturer": manufacturer_term,
        "sex": sex_term,
        "diagnosis": diagnosis_term,
    }
    labels = {by_kind[kind](q).label.lower(), q.lower()}
    table = _tables().get(kind)
    if isinstance(table, dict):
        for entry in table.values():
            if q.lower() in {str(entry.get("code") or "").lower(), entry["label"].lower()}:
                labels.add(entry["label"].lower())
    if q.lower() != UNKNOWN.lower():
        labels.discard(UNKNOWN.lower())
    return labels
