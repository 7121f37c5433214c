"""The node's second check of uploaded records: what pseudonymise produces passes, tampering does not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eucaim.clinical.pseudonymise import pseudonymise
from eucaim.clinical.record_check import check_record
from eucaim.clinical.schema import Schema

from .samples import SECRET, check


def _records(baseline: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    result = check("cases_es_latin1.csv", "cases_es_mapping.toml")
    return [r.as_json() for r in pseudonymise(result.rows, SECRET, schema=result.schema, baseline=baseline)]


def test_records_built_by_pseudonymise_pass(schema: Schema) -> None:
    for document in _records() + _records(("date_radiological_detection", "acquisition_date")):
        assert check_record(document, schema) == []


@pytest.mark.parametrize(
    ("tamper", "rule", "column"),
    [
        (lambda d: d["fields"].update(sex="X"), "code", "sex"),
        (lambda d: d["fields"].pop("pathology"), "required", "pathology"),
        (lambda d: d["fields"].update(birth_date="1961-02-14"), "unknown-field", "birth_date"),
        (lambda d: d["fields"].update(patient_id="000123"), "unknown-field", "patient_id"),
        (
            lambda d: d["fields"].update(date_first_treatment="2000-01-01"),
            "detection-before-treatment",
            "date_first_treatment",
        ),
        (lambda d: d["fields"].update(age_at_diagnosis=300), "range", "age_at_diagnosis"),
        (
            lambda d: d["fields"].update(date_radiological_detection=20190302),
            "date",
            "date_radiological_detection",
        ),
        (lambda d: d.update(schema_version="0.9"), "schema-version", None),
        (lambda d: d.update(extra=1), "record-shape", None),
        (lambda d: d.update(subject=""), "record-shape", None),
    ],
)
def test_tampered_records_are_refused_with_the_reason(
    schema: Schema, tamper: Any, rule: str, column: str | None
) -> None:
    document = copy.deepcopy(_records()[0])
    tamper(document)
    found = {(i.rule, i.column) for i in check_record(document, schema)}
    assert (rule, column) in found


def test_relative_dates_must_be_day_counts(schema: Schema) -> None:
    document = _records(("date_radiological_detection", "acquisition_date"))[0]
    document["fields"]["date_first_treatment"] = "2019-04-15"
    assert [(i.rule, i.column) for i in check_record(document, schema)] == [("date", "date_first_treatment")]


def test_fields_that_are_not_an_object_stop_the_check_early(schema: Schema) -> None:
    document = _records()[0] | {"fields": ["sex", "female"]}
    assert [i.rule for i in check_record(document, schema)] == ["record-shape"]


def test_first_treatment_date_is_not_needed_when_there_was_no_treatment(schema: Schema) -> None:
    document = _records()[0]
    document["fields"].pop("date_first_treatment")
    assert [i.rule for i in check_record(document, schema)] == ["required"]
    document["fields"]["treatment"] = ["active_surveillance"]
    assert check_record(document, schema) == []
