"""Templates a site starts from: they must pass the schema they were written from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from eucaim.clinical.loader import load_table
from eucaim.clinical.mapping import load_mapping
from eucaim.clinical.schema import Schema
from eucaim.clinical.template import template_columns, write_templates
from eucaim.clinical.validation import validate
from eucaim.errors import ConfigError

from .samples import TODAY


def test_example_file_passes_and_template_has_the_schema_header(tmp_path: Path, schema: Schema) -> None:
    template, example, mapping = write_templates(tmp_path, schema)
    assert template.read_text().splitlines() == [",".join(template_columns(schema))]
    assert "birth_date" not in template_columns(schema)
    result = validate(load_table(example), schema, load_mapping(mapping), today=TODAY)
    assert result.issues == ()
    assert [r.population for r in result.rows] == ["case", "control"]


def test_mapping_skeleton_is_valid_toml_listing_every_code(tmp_path: Path, schema: Schema) -> None:
    *_, mapping = write_templates(tmp_path, schema)
    text = mapping.read_text()
    assert set(tomllib.loads(text)) == {"columns", "values"}
    for code in schema.field("treatment").codes:
        assert code.code in text


def test_existing_files_are_not_overwritten_without_force(tmp_path: Path, schema: Schema) -> None:
    write_templates(tmp_path, schema)
    (tmp_path / "clinical-mapping.toml").write_text("# my edits\n")
    with pytest.raises(
        ConfigError, match=re.escape("clinical-template.csv, clinical-example.csv, clinical-mapping.toml")
    ):
        write_templates(tmp_path, schema)
    assert (tmp_path / "clinical-mapping.toml").read_text() == "# my edits\n"
    write_templates(tmp_path, schema, overwrite=True)
    assert "[columns]" in (tmp_path / "clinical-mapping.toml").read_text()
