"""Fixtures of the clinical tests (plain helpers live in samples.py)."""

from __future__ import annotations

import pytest

from eucaim.clinical.schema import Schema, load_schema


@pytest.fixture(scope="session")
def schema() -> Schema:
    return load_schema()
