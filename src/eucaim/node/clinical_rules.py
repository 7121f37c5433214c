"""The node's pure rules for clinical records: what is wrong with one, and what storing it means.

No database and no clock here: the service (``services/clinical.py``) reads the current version and
whether the subject has images, and these functions decide. Records are checked with
``eucaim.clinical.check_record`` against the biobank's schema (the shipped minimum schema plus the
biobank's extension), never trusting the client's own validation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from eucaim.clinical.record_check import check_record
from eucaim.clinical.schema import DEFAULT_SCHEMA, Schema, extend_schema, load_schema
from eucaim.errors import ConfigError

MAX_SUBJECT_LENGTH = 64  # the studies' PatientID column, which the pseudonym must be able to equal


class RecordStatus(StrEnum):
    """What happened to one submitted record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Problem:
    """Why a record was refused: the rule, the field it concerns (if one) and what to do."""

    rule: str
    message: str
    field: str | None = None
    hint: str = ""

    def as_json(self) -> dict[str, str | None]:
        return {"rule": self.rule, "field": self.field, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class RecordResult:
    """The node's answer for one record."""

    subject: str | None
    status: RecordStatus
    content_hash: str | None = None
    version: int | None = None
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "status": self.status.value,
            "content_hash": self.content_hash,
            "version": self.version,
            "problems": [p.as_json() for p in self.problems],
        }


@dataclass(frozen=True)
class VersionInfo:
    """One stored version of a subject's record."""

    version: int
    content_hash: str
    created_at: datetime


def record_problems(
    document: Any, *, schema: Schema, subject: str | None = None
) -> tuple[str | None, list[Problem]]:
    """Return the record's subject and every reason to refuse it on its own content.

    ``subject`` is the pseudonym from the URL, which the record must repeat.
    """
    if not isinstance(document, Mapping):
        return subject, [Problem("record-shape", "a record must be a JSON object", hint="send one object")]
    found = document.get("subject")
    named = found if isinstance(found, str) and found else None
    problems = [
        Problem(i.rule, i.message, field=i.column, hint=i.hint) for i in check_record(document, schema)
    ]
    if named is not None and len(named) > MAX_SUBJECT_LENGTH:
        problems.append(
            Problem(
                "record-shape", f"subject is longer than {MAX_SUBJECT_LENGTH} characters", field="subject"
            )
        )
    if subject is not None and named != subject:
        problems.append(
            Problem(
                "subject-mismatch",
                "the record's subject differs from the pseudonym in the URL",
                field="subject",
                hint="PUT each record to /subjects/{its subject}/clinical",
            )
        )
    return named or subject, problems


def linkage_problem(*, has_images: bool, allow_clinical_only: bool) -> Problem | None:
    """Return why a subject may not have a record here, or None when it may."""
    if has_images or allow_clinical_only:
        return None
    return Problem(
        "subject-without-images",
        "this biobank holds no study whose PatientID is this subject",
        field="subject",
        hint="push the subject's images first (the pseudonyms must match), or ask the node "
        "operator to allow clinical-only subjects for this biobank",
    )


def next_version(current: VersionInfo | None, digest: str) -> tuple[RecordStatus, int]:
    """Return what storing a record with hash ``digest`` on top of ``current`` means, and its version."""
    if current is None:
        return RecordStatus.CREATED, 1
    if current.content_hash == digest:
        return RecordStatus.UNCHANGED, current.version
    return RecordStatus.UPDATED, current.version + 1


def canonical_json(document: Mapping[str, Any]) -> str:
    """The stored text of a record: the same canonical form its content hash is taken over."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.cache
def base_schema() -> Schema:
    return load_schema(DEFAULT_SCHEMA)


def schema_with_extension(extension: str | None) -> Schema:
    """Return the node's schema with a biobank's extension (JSON text) applied.

    Raises:
        ConfigError: the extension is not valid JSON or not a valid extension of the schema.
    """
    if not extension:
        return base_schema()
    try:
        data = json.loads(extension)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"clinical schema extension is not valid JSON (line {exc.lineno})", hint="fix the file"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError("clinical schema extension must be a JSON object", hint="fix the file")
    return extend_schema(base_schema(), data, where="biobank schema extension")
