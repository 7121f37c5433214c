"""The node's pure clinical rules: version decisions, linkage refusal, record shape (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eucaim.errors import ConfigError
from eucaim.node.clinical_rules import (
    MAX_SUBJECT_LENGTH,
    RecordStatus,
    VersionInfo,
    base_schema,
    linkage_problem,
    next_version,
    record_problems,
    schema_with_extension,
)

from .conftest import record

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_next_version_creates_updates_or_leaves_unchanged() -> None:
    assert next_version(None, "h1") == (RecordStatus.CREATED, 1)
    current = VersionInfo(3, "h1", NOW)
    assert next_version(current, "h1") == (RecordStatus.UNCHANGED, 3)
    assert next_version(current, "h2") == (RecordStatus.UPDATED, 4)


def test_linkage_refuses_only_subjects_without_images_when_not_allowed() -> None:
    assert linkage_problem(has_images=True, allow_clinical_only=False) is None
    assert linkage_problem(has_images=False, allow_clinical_only=True) is None
    problem = linkage_problem(has_images=False, allow_clinical_only=False)
    assert problem is not None and problem.rule == "subject-without-images" and problem.field == "subject"


def test_record_problems_shape_subject_and_length() -> None:
    schema = base_schema()
    assert record_problems(record("EUCAIM-1"), schema=schema) == ("EUCAIM-1", [])
    assert record_problems(record("EUCAIM-1"), schema=schema, subject="EUCAIM-1") == ("EUCAIM-1", [])
    subject, problems = record_problems([1, 2], schema=schema, subject="EUCAIM-1")
    assert subject == "EUCAIM-1" and [p.rule for p in problems] == ["record-shape"]
    long = "E" * (MAX_SUBJECT_LENGTH + 1)
    assert [p.rule for p in record_problems(record(long), schema=schema)[1]] == ["record-shape"]
    named, mismatch = record_problems(record("EUCAIM-2"), schema=schema, subject="EUCAIM-1")
    assert named == "EUCAIM-2" and [p.rule for p in mismatch] == ["subject-mismatch"]


def test_schema_extension_must_be_a_valid_extension() -> None:
    assert schema_with_extension(None) is base_schema()
    with pytest.raises(ConfigError, match="not valid JSON"):
        schema_with_extension("{")
    with pytest.raises(ConfigError, match="JSON object"):
        schema_with_extension("[]")
    with pytest.raises(ConfigError, match="redefines"):
        schema_with_extension('{"extends": "eucaim-minimum", "fields": [{"name": "sex", "type": "string"}]}')
