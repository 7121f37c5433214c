"""Pseudonymisation in step with imaging: same pseudonym, same day offset, nothing identifying out."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from eucaim.clinical.loader import load_table
from eucaim.clinical.mapping import parse_mapping
from eucaim.clinical.pseudonymise import FreeText, content_hash, pseudonymise, scrub
from eucaim.clinical.schema import Schema, load_schema
from eucaim.clinical.upload import records_to_upload
from eucaim.clinical.validation import validate
from eucaim.deid.pseudonym import derive_day_offset, derive_patient_pseudonym
from eucaim.errors import ClinicalDataError

from .samples import SECRET, TODAY, check


def test_subject_and_date_shift_equal_what_the_dicom_engine_derives() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    records = pseudonymise(result.rows, SECRET, schema=result.schema)
    first = records[0]
    assert first.subject == derive_patient_pseudonym(SECRET, "000123")
    offset = derive_day_offset(SECRET, "000123")
    assert (
        first.fields["date_radiological_detection"] == (date(2019, 3, 2) + timedelta(days=offset)).isoformat()
    )
    assert first.fields["date_first_treatment"] == (date(2019, 4, 15) + timedelta(days=offset)).isoformat()
    # Each patient has their own offset, as in DICOM.
    second_offset = derive_day_offset(SECRET, "000456")
    assert (
        records[1].fields["date_radiological_detection"]
        == (date(2019, 6, 11) + timedelta(days=second_offset)).isoformat()
    )


def test_record_shape_is_stable_and_carries_no_identifying_field() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    document = pseudonymise(result.rows, SECRET, schema=result.schema)[0].as_json()
    assert list(document) == ["subject", "schema", "schema_version", "dates", "fields"]
    assert (document["schema"], document["schema_version"], document["dates"]) == (
        "eucaim-minimum",
        "1.0",
        "shifted",
    )
    assert set(document["fields"]) == {
        "population", "sex", "age_at_diagnosis", "date_radiological_detection",
        "date_pathological_confirmation", "pathological_confirmation_method", "topography", "pathology",
        "imaging_protocol", "treatment", "date_first_treatment",
    }  # fmt: skip
    assert document["fields"]["treatment"] == ["surgery", "chemotherapy"]
    text = json.dumps(document, ensure_ascii=False)
    for phi in ("000123", "María", "Núñez", "1961", "antecedentes", "2019-03-02"):
        assert phi not in text


def test_dates_relative_to_a_baseline_with_fallback_for_controls() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    records = pseudonymise(
        result.rows,
        SECRET,
        schema=result.schema,
        baseline=["date_radiological_detection", "acquisition_date"],
    )
    case, _, control = records
    assert case.dates == "days-from:date_radiological_detection"
    assert case.fields["date_radiological_detection"] == 0
    assert case.fields["date_pathological_confirmation"] == 18
    assert case.fields["date_first_treatment"] == 44
    assert (control.dates, control.fields["acquisition_date"]) == ("days-from:acquisition_date", 0)


def test_baseline_missing_in_a_row_is_an_error_naming_the_row() -> None:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    with pytest.raises(ClinicalDataError, match="row 4 has none of the baseline date fields"):
        pseudonymise(result.rows, SECRET, schema=result.schema, baseline=["date_radiological_detection"])


def _with_notes(tmp_path: Path) -> tuple[Schema, list]:  # type: ignore[type-arg]
    ext = tmp_path / "notes.json"
    ext.write_text(
        json.dumps(
            {
                "extends": "eucaim-minimum",
                "name": "n",
                "version": "1",
                "fields": [{"name": "notes", "type": "text"}],
            }
        )
    )
    schema = load_schema(extensions=[ext])
    path = tmp_path / "c.csv"
    path.write_text(
        "patient_id,population,sex,acquisition_date,age,topography,notes\n"
        'MRN778899,control,F,2022-01-01,50,breast,"MRN778899 seen 12/03/2021, call +34 600 123 456 '
        'or ana.lopez@example.org; benign cyst"\n',
        encoding="utf-8",
    )
    result = validate(load_table(path), schema, parse_mapping({"columns": {}}), today=TODAY)
    assert result.is_valid
    return schema, list(result.rows)


def test_free_text_is_dropped_by_default_and_scrubbed_on_request(tmp_path: Path) -> None:
    schema, rows = _with_notes(tmp_path)
    assert "notes" not in pseudonymise(rows, SECRET, schema=schema)[0].fields
    scrubbed = pseudonymise(rows, SECRET, schema=schema, free_text=FreeText.SCRUB)[0].fields["notes"]
    assert "benign cyst" in scrubbed
    for phi in ("778899", "12/03/2021", "600 123 456", "ana.lopez", "example.org"):
        assert phi not in scrubbed


def test_scrub_removes_the_patients_own_id_in_any_case() -> None:
    assert scrub("patient p-77 returned", "P-77") == "patient [removed] returned"


def test_content_hash_is_canonical_and_changes_with_content() -> None:
    assert content_hash({"b": 1, "a": "é"}) == content_hash({"a": "é", "b": 1})
    result = check("controls.tsv")
    first, second = (pseudonymise(result.rows, SECRET, schema=result.schema) for _ in range(2))
    assert [r.content_hash for r in first] == [r.content_hash for r in second]
    assert first[0].content_hash != first[1].content_hash


def test_records_to_upload_skips_what_the_node_already_holds() -> None:
    result = check("controls.tsv")
    items = records_to_upload(result, SECRET)
    assert [i.row for i in items] == [2, 3]
    known = {items[0].subject: items[0].content_hash, items[1].subject: "stale"}
    again = records_to_upload(result, SECRET, known_hashes=known)
    assert [i.subject for i in again] == [items[1].subject]
    assert records_to_upload(result, SECRET, known_hashes={i.subject: i.content_hash for i in items}) == []


def test_nothing_is_prepared_from_a_file_with_errors() -> None:
    result = check("cases_errors_utf8_bom.csv")
    with pytest.raises(ClinicalDataError, match="10 validation error"):
        records_to_upload(result, SECRET)
    bad_row = next(r for r in result.rows if r.has_errors)
    with pytest.raises(ClinicalDataError, match=f"row {bad_row.number} has validation errors"):
        pseudonymise([bad_row], SECRET, schema=result.schema)


def test_a_different_site_secret_gives_unlinkable_output() -> None:
    result = check("controls.tsv")
    ours = pseudonymise(result.rows, SECRET, schema=result.schema)[0]
    theirs = pseudonymise(result.rows, b"another-site-secret-0000000000", schema=result.schema)[0]
    assert ours.subject != theirs.subject
    assert ours.fields["acquisition_date"] != theirs.fields["acquisition_date"]
