"""Turn validated rows into upload records under the same pseudonym and date shift as the images.

A record has one stable shape (the node validates it again)::

    {"subject": "EUCAIM-3F2A...",            # derive_patient_pseudonym(secret, PatientID)
     "schema": "eucaim-minimum", "schema_version": "1.0",
     "dates": "shifted",                      # or "days-from:<field>" (dates are day counts)
     "fields": {"sex": "female", "age_at_diagnosis": 54.3,
                "date_radiological_detection": "2016-04-02", "treatment": ["surgery"], ...}}

``fields`` holds only fields with a value, never the patient ID or a field declared
``upload: false`` (the birth date). Dates move by ``derive_day_offset(secret, PatientID)`` days,
the offset the DICOM engine applies to the same patient's studies. Free text is dropped unless
``scrub`` is chosen, which removes e-mails, phone and ID-like numbers, dates and the patient's own
ID (names cannot be found reliably, so ``drop`` stays the default).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from eucaim.clinical.schema import Schema
from eucaim.clinical.validation import ValidRow
from eucaim.clinical.values import Value
from eucaim.deid.pseudonym import (
    DEFAULT_OFFSET_RANGE,
    DEFAULT_PSEUDONYM_FORMAT,
    derive_day_offset,
    derive_patient_pseudonym,
)
from eucaim.errors import ClinicalDataError

REDACTED = "[removed]"
_SCRUB_PATTERNS = (
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
    re.compile(r"\b\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}\b"),  # dates
    re.compile(r"\+?\d[\d ()\-]{6,}\d"),  # phone numbers
    re.compile(r"\b[A-Z]{0,3}\d{5,}[A-Z]?\b", re.IGNORECASE),  # IDs, record numbers
)


class FreeText(StrEnum):
    """What happens to free-text fields."""

    DROP = "drop"
    SCRUB = "scrub"


@dataclass(frozen=True)
class ClinicalRecord:
    """One subject's record as uploaded."""

    subject: str
    schema: str
    schema_version: str
    dates: str
    fields: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "schema": self.schema,
            "schema_version": self.schema_version,
            "dates": self.dates,
            "fields": dict(self.fields),
        }

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no spaces, UTF-8): equal content, equal hash."""
        return content_hash(self.as_json())


def content_hash(document: Mapping[str, Any]) -> str:
    """Hash a JSON document canonically, so an unchanged record is recognised on re-push."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def scrub(text: str, patient_id: str) -> str:
    """Remove e-mails, dates, phone and ID-like numbers and the patient's own ID from free text."""
    if patient_id:
        text = re.sub(re.escape(patient_id), REDACTED, text, flags=re.IGNORECASE)
    for pattern in _SCRUB_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _baseline_date(row: ValidRow, baseline: Sequence[str]) -> tuple[str, date]:
    for name in baseline:
        value = row.values.get(name)
        if isinstance(value, date):
            return name, value
    raise ClinicalDataError(
        f"row {row.number} has none of the baseline date fields {', '.join(baseline)}",
        hint="fill in one of them, or add a later field to the baseline list",
    )


def _output(value: Value, *, offset: int, base: date | None) -> Any:
    if isinstance(value, date):
        return (value - base).days if base is not None else (value + timedelta(days=offset)).isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def pseudonymise_row(
    row: ValidRow,
    secret: bytes,
    *,
    schema: Schema,
    free_text: FreeText = FreeText.DROP,
    baseline: Sequence[str] = (),
    pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT,
    offset_range: tuple[int, int] = DEFAULT_OFFSET_RANGE,
) -> ClinicalRecord:
    """Pseudonymise one row; see the module docstring for the record's shape."""
    if row.has_errors or not row.patient_id:
        raise ClinicalDataError(
            f"row {row.number} has validation errors and cannot be pseudonymised",
            hint="run `eucaim-ingest clinical validate` and fix what it reports",
        )
    offset = derive_day_offset(secret, row.patient_id, offset_range=offset_range)
    dates, base = "shifted", None
    if baseline:
        base_name, base = _baseline_date(row, baseline)
        dates = f"days-from:{base_name}"
    fields: dict[str, Any] = {}
    for spec in schema.fields:
        value = row.values.get(spec.name)
        if value is None or spec.name == schema.id_field or spec.identifying or not spec.upload:
            continue
        if spec.is_free_text:
            if free_text is FreeText.DROP:
                continue
            value = scrub(str(value), row.patient_id)
        fields[spec.name] = _output(value, offset=offset, base=base)
    return ClinicalRecord(
        subject=derive_patient_pseudonym(secret, row.patient_id, fmt=pseudonym_format),
        schema=schema.name,
        schema_version=schema.version,
        dates=dates,
        fields=fields,
    )


def pseudonymise(
    rows: Sequence[ValidRow],
    secret: bytes,
    *,
    schema: Schema,
    free_text: FreeText = FreeText.DROP,
    baseline: Sequence[str] = (),
    pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT,
    offset_range: tuple[int, int] = DEFAULT_OFFSET_RANGE,
) -> list[ClinicalRecord]:
    """Pseudonymise every row (all must be free of errors), in input order.

    ``baseline`` lists date fields in order of preference; when given, every date becomes the number
    of days from the first of them the row has, and the record says which (``days-from:<field>``).
    """
    return [
        pseudonymise_row(
            row,
            secret,
            schema=schema,
            free_text=free_text,
            baseline=baseline,
            pseudonym_format=pseudonym_format,
            offset_range=offset_range,
        )
        for row in rows
    ]
