"""The declared schema: shipped file, extensions, and schema files that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eucaim.clinical.rules import CHECKS
from eucaim.clinical.schema import RULE_KINDS, Schema, available_schemas, load_schema
from eucaim.errors import ConfigError

EXTENSION = {
    "extends": "eucaim-minimum",
    "name": "prostate-biobank",
    "version": "2",
    "fields": [
        {"name": "psa", "type": "number", "minimum": 0, "maximum": 10000, "unit": "ng/mL"},
        {
            "name": "gleason_group",
            "type": "code",
            "codes": [{"code": str(n), "label": f"Group {n}"} for n in range(1, 6)],
        },
        {"name": "notes", "type": "text"},
        {"name": "date_psa", "type": "date"},
    ],
    "rules": [{"id": "psa-after-birth", "kind": "date-order", "before": "birth_date", "after": "date_psa"}],
}


def test_shipped_schema_declares_the_eucaim_minimum_dataset(schema: Schema) -> None:
    assert (schema.name, schema.version) == ("eucaim-minimum", "1.0")
    case_fields = {f.name for f in schema.fields if f.is_required("case")}
    control_fields = {f.name for f in schema.fields if f.is_required("control")}
    assert case_fields == {
        "patient_id", "population", "sex", "age_at_diagnosis", "date_radiological_detection",
        "date_pathological_confirmation", "pathological_confirmation_method", "topography", "pathology",
        "imaging_protocol", "treatment", "date_first_treatment",
    }  # fmt: skip
    assert control_fields == {"patient_id", "population", "sex", "acquisition_date", "age", "topography"}
    assert not schema.field("birth_date").upload


def test_every_rule_kind_has_a_check() -> None:
    assert set(CHECKS) == RULE_KINDS


def test_id_column_may_be_written_patient_id_or_PatientID(schema: Schema) -> None:
    for header in ("patient_id", "PatientID", "Patient ID", "PATIENT-ID"):
        spec = schema.match_column(header)
        assert spec is not None and spec.name == "patient_id"
    assert schema.match_column("birth_date") is None  # only an explicit mapping may use it


def test_schema_by_name_version_and_list() -> None:
    assert "eucaim-minimum-1.0" in available_schemas()
    assert load_schema("eucaim-minimum-1.0").version == "1.0"


def test_unknown_schema_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="unknown clinical schema 'eucaim-max'") as caught:
        load_schema("eucaim-max")
    assert "eucaim-minimum-1.0" in str(caught.value)


def test_extension_adds_fields_and_rules_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "prostate.json"
    path.write_text(json.dumps(EXTENSION))
    extended = load_schema(extensions=[path])
    assert extended.field("psa").unit == "ng/mL"
    assert extended.extensions == (("prostate-biobank", "2"),)
    assert extended.rules[-1].id == "psa-after-birth"
    assert (extended.name, extended.version) == ("eucaim-minimum", "1.0")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extends": "other"}, "extends 'other', not 'eucaim-minimum'"),
        ({"fields": [{"name": "sex", "type": "string"}]}, "redefines field"),
        ({"fields": [{"name": "x", "type": "float"}]}, "has type 'float'"),
        ({"fields": [{"name": "x", "type": "code"}]}, "declares no 'codes'"),
        (
            {"rules": [{"id": "r", "kind": "date-order", "before": "nope", "after": "age"}]},
            "unknown field 'nope'",
        ),
        ({"rules": [{"id": "r", "kind": "regex"}]}, "has kind 'regex'"),
    ],
)
def test_bad_extensions_are_refused_with_the_reason(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "ext.json"
    path.write_text(json.dumps({**EXTENSION, **change}))
    with pytest.raises(ConfigError, match=message):
        load_schema(extensions=[path])


def test_schema_file_that_is_not_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "fields": [}')
    with pytest.raises(ConfigError, match="not valid JSON at line 2"):
        load_schema(str(path))
