"""What a clinical push sends: the records of a valid file, minus those the node already holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eucaim.clinical.pseudonymise import ClinicalRecord, FreeText, pseudonymise
from eucaim.clinical.validation import ValidationResult
from eucaim.deid.pseudonym import DEFAULT_OFFSET_RANGE, DEFAULT_PSEUDONYM_FORMAT
from eucaim.errors import ClinicalDataError


@dataclass(frozen=True)
class UploadItem:
    """One record to PUT, its content hash (the idempotency key with the subject) and source row."""

    record: ClinicalRecord
    content_hash: str
    row: int

    @property
    def subject(self) -> str:
        return self.record.subject


def records_to_upload(
    result: ValidationResult,
    secret: bytes,
    *,
    known_hashes: Mapping[str, str] | None = None,
    free_text: FreeText = FreeText.DROP,
    baseline: Sequence[str] = (),
    pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT,
    offset_range: tuple[int, int] = DEFAULT_OFFSET_RANGE,
) -> list[UploadItem]:
    """Return the records to send, skipping subjects whose hash equals ``known_hashes[subject]``.

    ``known_hashes`` is what the node (or the local state DB) reports per pseudonym; re-pushing an
    unchanged file then sends nothing. Raises ``ClinicalDataError`` if the file has any error:
    nothing is sent from a file that fails validation.
    """
    if not result.is_valid:
        raise ClinicalDataError(
            f"{result.source.name} has {len(result.errors)} validation error(s); nothing will be sent",
            hint="run `eucaim-ingest clinical validate` and fix what it reports",
        )
    known = known_hashes or {}
    items: list[UploadItem] = []
    records = pseudonymise(
        result.rows,
        secret,
        schema=result.schema,
        free_text=free_text,
        baseline=baseline,
        pseudonym_format=pseudonym_format,
        offset_range=offset_range,
    )
    for row, record in zip(result.rows, records, strict=True):
        digest = record.content_hash
        if known.get(record.subject) != digest:
            items.append(UploadItem(record=record, content_hash=digest, row=row.number))
    return items
