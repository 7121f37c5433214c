"""The clinical sample files, a fixed 'today' and a site secret, shared by the clinical tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from eucaim.clinical.loader import load_table
from eucaim.clinical.mapping import ColumnMapping, load_mapping
from eucaim.clinical.schema import Schema, load_schema
from eucaim.clinical.validation import ValidationResult, validate

DATA = Path(__file__).resolve().parents[2] / "data" / "clinical"
TODAY = date(2025, 6, 1)
SECRET = b"clinical-test-site-secret-0123456789"


def data_file(name: str) -> Path:
    """Path of a sample file in tests/data/clinical (see its README)."""
    path = DATA / name
    assert path.is_file(), f"missing sample {name}: run tests/data/clinical/generate.py"
    return path


def check(name: str, mapping: str | None = None, schema: Schema | None = None) -> ValidationResult:
    """Load, map and validate a sample file as the CLI does."""
    cmap = load_mapping(data_file(mapping)) if mapping else ColumnMapping()
    table = load_table(data_file(name), encoding=cmap.encoding, delimiter=cmap.delimiter, sheet=cmap.sheet)
    return validate(table, schema or load_schema(), cmap, today=TODAY)
