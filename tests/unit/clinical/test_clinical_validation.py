"""Validation a data manager can act on: every finding located, all at once, identifying data refused."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from eucaim.clinical.loader import load_table
from eucaim.clinical.mapping import ColumnMapping, parse_mapping
from eucaim.clinical.schema import Schema, load_schema
from eucaim.clinical.validation import validate
from eucaim.errors import ConfigError

from .samples import TODAY, check

CASE_HEADER = (
    "patient_id,population,sex,age_at_diagnosis,date_radiological_detection,date_pathological_confirmation,"
    "pathological_confirmation_method,topography,pathology,imaging_protocol,treatment,date_first_treatment"
)
GOOD_CASE = "P1,case,female,54.3,2020-01-10,2020-01-20,biopsy,breast,8500/3,MRI,surgery,2020-02-15"


def _csv(tmp_path: Path, *lines: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _validate(path: Path, schema: Schema, mapping: ColumnMapping | None = None):  # type: ignore[no-untyped-def]
    return validate(load_table(path), schema, mapping, today=TODAY)


def test_every_mistake_in_the_file_is_reported_in_one_pass() -> None:
    result = check("cases_errors_utf8_bom.csv")
    found = {(i.row, i.column, i.rule, i.severity.value) for i in result.issues}
    assert found == {
        (None, "Patient Name", "identifying-column", "error"),
        (None, "ward", "unknown-column", "warning"),
        (3, "sex", "code", "error"),
        (3, "date_first_treatment", "detection-before-treatment", "error"),
        (3, "date_first_treatment", "confirmation-before-treatment", "error"),
        (4, "age_at_diagnosis", "required", "error"),
        (4, "date_pathological_confirmation", "required", "error"),
        (4, "pathological_confirmation_method", "required", "error"),
        (5, "pathology", "icdo3", "error"),
        (6, "PatientID", "duplicate-patient", "error"),
        (7, "age", "range", "error"),
    }
    assert not result.is_valid
    assert "10 error(s) in 5 of 6 rows" in result.summary()


def test_findings_show_the_bad_value_except_in_identifying_columns() -> None:
    result = check("cases_errors_utf8_bom.csv")
    by_key = {(i.row, i.rule): i for i in result.issues}
    assert by_key[(3, "code")].value == "X"
    assert "female, male, other, unknown" in by_key[(3, "code")].hint
    assert by_key[(6, "duplicate-patient")].value is None
    assert "rows 2, 6" in by_key[(6, "duplicate-patient")].hint
    every_text = " ".join(f"{i.message} {i.hint} {i.value}" for i in result.issues)
    for name in ("Jane Roe", "John Doe", "Max Mustermann", "P001"):
        assert name not in every_text


def test_treatment_none_waives_the_first_treatment_date(tmp_path: Path, schema: Schema) -> None:
    row = "P1,case,female,54.3,2020-01-10,2020-01-20,biopsy,breast,8500/3,MRI,none,"
    assert _validate(_csv(tmp_path, CASE_HEADER, row), schema).is_valid


def test_site_file_is_valid_once_its_mapping_drops_names_and_translates_codes() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    assert result.errors == []
    first = result.rows[0]
    assert first.patient_id == "000123"  # leading zeros kept: IDs are text
    assert first.values["sex"] == "female"  # site 'M' (mujer) mapped, not the schema alias 'M' (male)
    assert first.values["age_at_diagnosis"] == 58.1
    assert first.values["treatment"] == ("surgery", "chemotherapy")
    assert first.values["date_radiological_detection"] == date(2019, 3, 2)
    assert result.rows[2].population == "control"


def test_without_its_mapping_the_same_file_is_refused_for_identifying_columns() -> None:
    result = check("cases_es_latin1.csv")
    refused = {i.column for i in result.issues if i.rule == "identifying-column"}
    assert refused == {"NHC", "Nombre", "Apellidos", "Fecha nacimiento"}
    assert all(i.value is None for i in result.issues)
    hints = {i.column: i.hint for i in result.issues if i.rule == "identifying-column"}
    assert '"NHC" = "patient_id"' in hints["NHC"]
    assert '"Fecha nacimiento" = "birth_date"' in hints["Fecha nacimiento"]
    assert 'add "Nombre" to drop' in hints["Nombre"]


def test_birth_date_named_like_the_field_is_still_refused_until_mapped(
    tmp_path: Path, schema: Schema
) -> None:
    path = _csv(tmp_path, CASE_HEADER + ",birth_date", GOOD_CASE + ",1965-09-01")
    assert [i.rule for i in _validate(path, schema).errors] == ["identifying-column"]
    mapped = parse_mapping({"columns": {"birth_date": "birth_date"}})
    assert _validate(path, schema, mapped).is_valid


def test_age_must_match_the_mapped_birth_date(tmp_path: Path, schema: Schema) -> None:
    path = _csv(tmp_path, CASE_HEADER + ",DOB", GOOD_CASE + ",1980-09-01")
    result = _validate(path, schema, parse_mapping({"columns": {"DOB": "birth_date"}}))
    [issue] = result.errors
    assert (issue.rule, issue.row, issue.column) == (
        "age-at-diagnosis-matches-birth-date",
        2,
        "age_at_diagnosis",
    )
    assert "which give 39.4" in issue.message
    assert "1980" not in f"{issue.message} {issue.hint} {issue.value}"


def test_dates_in_the_future_and_birth_after_detection(tmp_path: Path, schema: Schema) -> None:
    future = GOOD_CASE.replace("2020-02-15", "2031-01-01")
    path = _csv(tmp_path, CASE_HEADER + ",fnac", future + ",2020-05-01")
    result = _validate(path, schema, parse_mapping({"columns": {"fnac": "birth_date"}}))
    rules = {i.rule for i in result.errors}
    assert {"future-date", "birth-before-detection"} <= rules
    birth = next(i for i in result.errors if i.rule == "birth-before-detection")
    assert "the birth date" in birth.message and "2020-05-01" not in birth.message


def test_a_required_column_missing_altogether_is_one_finding_not_one_per_row(
    tmp_path: Path, schema: Schema
) -> None:
    header = CASE_HEADER.replace(",imaging_protocol", "")
    row = GOOD_CASE.replace(",MRI", "")
    result = _validate(_csv(tmp_path, header, row, row.replace("P1", "P2")), schema)
    [issue] = result.errors
    assert (issue.rule, issue.column, issue.row) == ("missing-column", "imaging_protocol", None)
    assert "2 row(s) need it" in issue.message


def test_unknown_population_still_checks_fields_required_for_everyone(tmp_path: Path, schema: Schema) -> None:
    path = _csv(tmp_path, "patient_id,population,sex,topography", "P1,patient,,breast")
    found = {(i.column, i.rule) for i in _validate(path, schema).errors}
    assert found == {("population", "code"), ("sex", "required")}


def test_two_columns_feeding_one_field_is_reported(tmp_path: Path, schema: Schema) -> None:
    path = _csv(tmp_path, "patient_id,PatientID,population,sex,topography", "P1,P1,control,F,breast")
    assert "duplicate-field" in {i.rule for i in _validate(path, schema).errors}


def test_mapping_onto_a_field_the_schema_lacks_is_a_config_error(tmp_path: Path, schema: Schema) -> None:
    path = _csv(tmp_path, CASE_HEADER, GOOD_CASE)
    with pytest.raises(ConfigError, match=r"names field\(s\) \['diagnosis'\]"):
        _validate(path, schema, parse_mapping({"columns": {"Dx": "diagnosis"}}))


def test_mapping_entries_for_absent_columns_are_warned_about(tmp_path: Path, schema: Schema) -> None:
    path = _csv(tmp_path, CASE_HEADER, GOOD_CASE)
    result = _validate(path, schema, parse_mapping({"drop": ["Nmbre"]}))
    assert result.is_valid
    assert [(w.rule, w.column) for w in result.warnings] == [("mapping-unused", "Nmbre")]


def test_excel_merged_headers_serial_dates_and_numeric_ids() -> None:
    result = check("cohort_merged_header.xlsx")
    assert result.rows[0].values["date_radiological_detection"] == date(2020, 1, 10)
    assert result.rows[1].patient_id == "1002"
    found = {(i.row, i.rule) for i in result.issues}
    assert found == {
        (4, "numeric-id"),
        (4, "detection-before-treatment"),
        (4, "confirmation-before-treatment"),
    }
    assert [r.has_errors for r in result.rows] == [False, True, False]


def test_nested_json_validates_with_its_mapping() -> None:
    result = check("subjects_nested.json", "subjects_nested_mapping.toml")
    assert result.issues == ()
    assert result.rows[0].values["pathological_confirmation_method"] == "biopsy"
    assert result.rows[0].values["treatment"] == ("surgery", "radiotherapy")


def test_controls_tsv_with_dicom_dates_and_decimal_comma() -> None:
    result = check("controls.tsv")
    assert result.is_valid
    assert result.rows[0].values["acquisition_date"] == date(2022, 3, 1)
    assert result.rows[1].values["age"] == 51.0


def test_many_bad_rows_are_all_reported(tmp_path: Path, schema: Schema) -> None:
    rows = [f"P{n},control,Q,2020-01-01,40,breast" for n in range(500)]
    path = _csv(tmp_path, "patient_id,population,sex,acquisition_date,age,topography", *rows)
    result = _validate(path, schema)
    assert len(result.errors) == 500
    assert {i.row for i in result.errors} == set(range(2, 502))


def test_free_text_values_are_never_repeated_in_findings(tmp_path: Path) -> None:
    ext = tmp_path / "notes.json"
    ext.write_text(
        '{"extends": "eucaim-minimum", "name": "n", "version": "1",'
        ' "fields": [{"name": "notes", "type": "text", "max_length": 10}]}'
    )
    schema = load_schema(extensions=[ext])
    path = _csv(
        tmp_path,
        "patient_id,population,sex,topography,acquisition_date,age,notes",
        "P1,control,F,breast,2022-01-01,50,Seen by Dr Who",
    )
    [issue] = _validate(path, schema).errors
    assert (issue.rule, issue.column, issue.value) == ("length", "notes", None)


def test_chaimeleon_eform_json_validates_with_a_subject_mapping(tmp_path: Path, schema: Schema) -> None:
    eform = [
        {
            "subjectName": "P1",
            "eForm": {
                "pages": [
                    {"page_name": "inclusion_criteria", "page_data": {"population": {"value": "control"}}},
                    {
                        "page_name": "patient_data",
                        "page_data": {"sex": {"value": "FEMALE"}, "age": {"value": 48}},
                    },
                    {
                        "page_name": "imaging",
                        "page_data": {
                            "acquisition_date": {"value": "2021-03-01"},
                            "topography": {"value": "breast"},
                        },
                    },
                ]
            },
        }
    ]
    path = tmp_path / "eforms.json"
    path.write_text(json.dumps(eform))
    mapping = parse_mapping({"columns": {"subjectName": "patient_id"}})
    result = _validate(path, schema, mapping)
    assert result.errors == []
    assert {w.rule for w in result.warnings} == {"unknown-column"}  # the page_name entries
    assert result.rows[0].values["sex"] == "female"


def test_header_without_rows_is_an_error(tmp_path: Path, schema: Schema) -> None:
    result = _validate(_csv(tmp_path, CASE_HEADER), schema)
    assert [(i.rule, i.row) for i in result.errors] == [("empty", None)]
