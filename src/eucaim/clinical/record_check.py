"""Check an uploaded clinical record (the JSON ``pseudonymise`` produces) against a schema.

The node runs this on every record it receives, never trusting the client's own validation; the
ingest tool can run it on its output as a last check. Pure: a decoded document in, findings out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from eucaim.clinical.issues import Issue
from eucaim.clinical.rules import CHECKS
from eucaim.clinical.schema import Schema
from eucaim.clinical.values import CellError, Value, coerce

RECORD_KEYS = ("subject", "schema", "schema_version", "dates", "fields")
# Relative dates are day counts; they are placed on an arbitrary calendar so order rules still apply.
_RELATIVE_EPOCH = date(2000, 1, 1)


def _problem(rule: str, message: str, hint: str, column: str | None = None) -> Issue:
    return Issue(rule, message, hint, column=column)


def _shape_issues(document: Mapping[str, Any], schema: Schema) -> list[Issue]:
    issues: list[Issue] = []
    missing = [k for k in RECORD_KEYS if k not in document]
    extra = sorted(set(document) - set(RECORD_KEYS))
    if missing or extra:
        issues.append(
            _problem(
                "record-shape",
                f"record keys must be {list(RECORD_KEYS)}; missing {missing}, unexpected {extra}",
                "send the record exactly as eucaim.clinical.pseudonymise builds it",
            )
        )
    if not isinstance(document.get("subject"), str) or not document.get("subject"):
        issues.append(_problem("record-shape", "subject must be a non-empty pseudonym string", "set subject"))
    if (document.get("schema"), document.get("schema_version")) != (schema.name, schema.version):
        issues.append(
            _problem(
                "schema-version",
                f"record declares {document.get('schema')} {document.get('schema_version')}, "
                f"this biobank expects {schema.name} {schema.version}",
                "validate and pseudonymise the file against the biobank's schema",
            )
        )
    dates = document.get("dates")
    if not isinstance(dates, str) or not (dates == "shifted" or dates.startswith("days-from:")):
        issues.append(
            _problem(
                "record-shape",
                f"dates must be 'shifted' or 'days-from:<field>', not {dates!r}",
                "set dates as pseudonymise does",
            )
        )
    if not isinstance(document.get("fields"), dict):
        issues.append(_problem("record-shape", "fields must be an object", "send fields as a JSON object"))
    return issues


def _field_value(raw: Any, spec_type: str, relative: bool) -> Any:
    if spec_type == "date" and relative:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise CellError("date", f"{raw!r} is not a day count", "relative dates are whole numbers of days")
        return (_RELATIVE_EPOCH + timedelta(days=raw)).isoformat()
    if spec_type == "date" and not isinstance(raw, str):
        raise CellError("date", f"{raw!r} is not an ISO date string", "shifted dates are YYYY-MM-DD strings")
    if isinstance(raw, list):
        return "|".join(str(v) for v in raw)
    if isinstance(raw, dict):
        raise CellError("type", "a nested object is not a field value", "send a plain value")
    return raw


def check_record(document: Mapping[str, Any], schema: Schema) -> list[Issue]:
    """Return every problem of one record; an empty list means the node may store it.

    Findings carry the field name as ``column`` and no ``row``; values are shown, as a record holds
    nothing identifying once pseudonymised.
    """
    issues = _shape_issues(document, schema)
    fields = document.get("fields")
    if not isinstance(fields, dict):
        return issues
    relative = str(document.get("dates", "")).startswith("days-from:")
    uploadable = {s.name: s for s in schema.fields if s.upload and not s.identifying}
    values: dict[str, Value] = {}
    for name, raw in fields.items():
        spec = uploadable.get(name)
        if spec is None:
            issues.append(
                _problem(
                    "unknown-field",
                    f"field {name!r} is not an uploadable field of {schema.name} {schema.version}",
                    "remove it, or declare it in the biobank's schema extension",
                    column=name,
                )
            )
            continue
        try:
            values[name] = coerce(_field_value(raw, spec.type, relative), spec)
        except CellError as exc:
            issues.append(Issue(exc.rule, f"{name}: {exc.message}", exc.hint, column=name, value=str(raw)))
    population = values.get(schema.population_field)
    population = population if isinstance(population, str) else None
    for spec in uploadable.values():
        if spec.name not in fields and spec.is_needed(population, values):
            issues.append(
                _problem("required", f"{spec.name} is missing", f"add {spec.name}", column=spec.name)
            )
    columns = {name: name for name in values}
    for rule in schema.rules:
        issues.extend(CHECKS[rule.kind](rule, values, columns, 0))
    return [
        i if i.row != 0 else Issue(i.rule, i.message, i.hint, column=i.column, value=i.value) for i in issues
    ]
