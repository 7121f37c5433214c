"""Validate a clinical table against a schema in one pass, collecting every actionable finding."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from eucaim.clinical.identifying import identifying_category
from eucaim.clinical.issues import Issue, Severity, sort_key
from eucaim.clinical.mapping import Binding, ColumnBinding, ColumnMapping, bind_columns
from eucaim.clinical.rules import CHECKS
from eucaim.clinical.schema import FieldSpec, Schema
from eucaim.clinical.table import SourceInfo, SourceRow, Table
from eucaim.clinical.values import CellError, Value, cell_text, coerce, is_blank


@dataclass(frozen=True)
class ValidRow:
    """One subject's typed values; fields whose cell failed are absent."""

    number: int
    patient_id: str | None
    population: str | None
    values: Mapping[str, Value]
    has_errors: bool


@dataclass(frozen=True)
class ValidationResult:
    """Everything a check of one file found, and the typed rows ready for pseudonymisation."""

    source: SourceInfo
    schema: Schema
    bindings: tuple[ColumnBinding, ...]
    rows: tuple[ValidRow, ...]
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def patient_rows(self) -> dict[str, list[int]]:
        """Patient ID -> the row numbers holding it, for linkage with imaging."""
        found: dict[str, list[int]] = defaultdict(list)
        for row in self.rows:
            if row.patient_id:
                found[row.patient_id].append(row.number)
        return dict(found)

    def baseline_dates(self) -> dict[str, date]:
        """Patient ID -> the first of the schema's ``baseline_fields`` the row has (for linkage)."""
        found: dict[str, date] = {}
        for row in self.rows:
            for name in self.schema.baseline_fields:
                value = row.values.get(name)
                if row.patient_id and isinstance(value, date):
                    found.setdefault(row.patient_id, value)
                    break
        return found

    def summary(self) -> str:
        """One line for the terminal."""
        rows = f"{len(self.rows)} {self.source.row_noun}s"
        warn = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        schema = f"{self.schema.name} {self.schema.version}"
        if self.is_valid:
            return f"{self.source.name}: {rows} valid against {schema}{warn}"
        bad_rows = len({i.row for i in self.errors if i.row is not None})
        return (
            f"{self.source.name}: {len(self.errors)} error(s) in {bad_rows} of {rows}{warn} "
            f"({schema}); nothing can be uploaded until they are fixed"
        )


def _identifying_hint(column: str, category: str) -> str:
    drop = f'add "{column}" to drop = [...] in the mapping file'
    if category == "medical-record":
        mapped = f'"{column}" = "patient_id"'
        return f"if it holds the DICOM PatientID, map it under [columns] as {mapped}; else {drop}"
    if category == "birth-date":
        return (
            f'{drop}, or map it under [columns] as "{column}" = "birth_date" to check ages (never uploaded)'
        )
    return f"{drop}; if it is not identifying, map it explicitly under [columns]"


def _column_issues(bindings: list[ColumnBinding], schema: Schema) -> list[Issue]:
    issues: list[Issue] = []
    for b in bindings:
        category = identifying_category(b.column)
        if b.binding is Binding.DROP:
            continue
        if category is not None and not b.explicit:
            issues.append(
                Issue(
                    "identifying-column",
                    f"column {b.column!r} looks identifying ({category}); it must not leave the hospital",
                    _identifying_hint(b.column, category),
                    column=b.column,
                )
            )
        elif b.binding is Binding.UNKNOWN:
            issues.append(
                Issue(
                    "unknown-column",
                    f"column {b.column!r} is not in schema {schema.name} {schema.version}; "
                    "it will not be uploaded",
                    "map it to a schema field under [columns], or list it under drop to silence this",
                    column=b.column,
                    severity=Severity.WARNING,
                )
            )
    return issues


class _RowChecker:
    """Checks rows one by one; holds what every row needs (schema, columns, mapping, today)."""

    def __init__(
        self,
        schema: Schema,
        bindings: list[ColumnBinding],
        mapping: ColumnMapping,
        today: date,
        *,
        excel_1904: bool = False,
    ) -> None:
        self.schema = schema
        self.excel_1904 = excel_1904
        self.mapping = mapping
        self.today = today
        self.columns = {b.field: b.column for b in bindings if b.binding is Binding.FIELD and b.field}
        self.identifying_columns = {b.column for b in bindings if identifying_category(b.column)}

    def _issue(
        self, spec: FieldSpec, row: int, column: str, raw: str, rule: str, msg: str, hint: str
    ) -> Issue:
        # Free text may hold names; identifying columns hold nothing else.
        hidden = spec.identifying or spec.is_free_text or column in self.identifying_columns
        return Issue(rule, f"{spec.name}: {msg}", hint, row=row, column=column, value=None if hidden else raw)

    def _parse(self, spec: FieldSpec, row: SourceRow, issues: list[Issue]) -> Value | None:
        column = self.columns[spec.name]
        cell = row.cells.get(column)
        if is_blank(cell):
            return None
        raw = cell_text(cell)
        translated = self.mapping.translate(spec.name, raw, multiple=spec.multiple)
        source = translated if translated != raw or isinstance(cell, str) else cell
        try:
            value = coerce(source, spec, date_format=self.mapping.date_format, excel_1904=self.excel_1904)
        except CellError as exc:
            issues.append(self._issue(spec, row.number, column, raw, exc.rule, exc.message, exc.hint))
            return None
        if isinstance(value, date) and value > self.today:
            issues.append(
                self._issue(
                    spec,
                    row.number,
                    column,
                    raw,
                    "future-date",
                    f"{value.isoformat()} is in the future",
                    "check the year",
                )
            )
            return None
        return value

    def _missing_values(
        self, number: int, population: str | None, values: Mapping[str, Value], failed: set[str | None]
    ) -> list[Issue]:
        """Required fields left blank (cells that failed to parse were reported already)."""
        issues: list[Issue] = []
        for spec in self.schema.fields:
            column = self.columns.get(spec.name)
            if column is None or spec.name in values or column in failed:
                continue
            if spec.is_needed(population, values):
                everyone = not population or "*" in spec.required_for
                who = "every subject" if everyone else f"{population} subjects"
                issues.append(
                    Issue(
                        "required",
                        f"{spec.name} is missing; it is required for {who}",
                        f"fill in {spec.name}: {spec.description}",
                        row=number,
                        column=column,
                    )
                )
        return issues

    def check(self, row: SourceRow) -> tuple[ValidRow, list[Issue]]:
        issues: list[Issue] = []
        values: dict[str, Value] = {}
        for spec in self.schema.fields:
            if spec.name in self.columns:
                value = self._parse(spec, row, issues)
                if value is not None:
                    values[spec.name] = value
        population = values.get(self.schema.population_field)
        population = population if isinstance(population, str) else None
        issues += self._missing_values(row.number, population, values, {i.column for i in issues})
        for rule in self.schema.rules:
            issues.extend(CHECKS[rule.kind](rule, values, self.columns, row.number))
        if isinstance(row.cells.get(self.columns.get(self.schema.id_field, "")), int | float):
            issues.append(
                Issue(
                    "numeric-id",
                    "the patient ID is stored as a number; leading zeros may be lost",
                    "format the ID column as text in Excel so IDs match DICOM PatientID exactly",
                    row=row.number,
                    column=self.columns[self.schema.id_field],
                    severity=Severity.WARNING,
                )
            )
        patient_id = values.get(self.schema.id_field)
        valid = ValidRow(
            number=row.number,
            patient_id=patient_id.strip() if isinstance(patient_id, str) else None,
            population=population,
            values=values,
            has_errors=any(i.is_error for i in issues),
        )
        return valid, issues


def _missing_columns(schema: Schema, checker: _RowChecker, rows: list[ValidRow], noun: str) -> list[Issue]:
    issues: list[Issue] = []
    for spec in schema.fields:
        if spec.name in checker.columns:
            continue
        needing = [r for r in rows if spec.is_needed(r.population, r.values)]
        if needing:
            issues.append(
                Issue(
                    "missing-column",
                    f"no column for required field {spec.name} ({len(needing)} {noun}(s) need it)",
                    f"add a column named {spec.name}, or map your column to it under [columns]",
                    column=spec.name,
                )
            )
    return issues


def _duplicates(rows: list[ValidRow], id_column: str, noun: str) -> list[Issue]:
    by_id: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.patient_id:
            by_id[row.patient_id].append(row.number)
    return [
        Issue(
            "duplicate-patient",
            f"same patient ID as {noun} {numbers[0]}; one {noun} per subject",
            f"merge {noun}s {', '.join(map(str, numbers))} into one, or correct the ID",
            row=number,
            column=id_column,
        )
        for numbers in by_id.values()
        if len(numbers) > 1
        for number in numbers[1:]
    ]


def validate(
    table: Table, schema: Schema, mapping: ColumnMapping | None = None, *, today: date
) -> ValidationResult:
    """Check every row and column of ``table``; never stops at the first problem.

    ``today`` is the reference for "date in the future" (passed in: this module reads no clock).
    Raises ``ConfigError`` only when the mapping names fields the schema does not have.
    """
    mapping = mapping or ColumnMapping()
    bindings, issues = bind_columns(table.columns, schema, mapping)
    issues = list(table.problems) + issues + _column_issues(bindings, schema)
    checker = _RowChecker(schema, bindings, mapping, today, excel_1904=table.source.excel_1904)
    rows: list[ValidRow] = []
    for source_row in table.rows:
        row, row_issues = checker.check(source_row)
        rows.append(row)
        issues.extend(row_issues)
    noun = table.source.row_noun
    if not rows:
        issues.append(
            Issue(
                "empty",
                f"{table.source.name} has a header but no data {noun}s",
                "add one row per subject below the header",
            )
        )
    issues += _missing_columns(schema, checker, rows, noun)
    issues += _duplicates(rows, checker.columns.get(schema.id_field, schema.id_field), noun)
    error_rows = {i.row for i in issues if i.is_error}
    rows = [replace(r, has_errors=True) if r.number in error_rows else r for r in rows]
    return ValidationResult(
        source=table.source,
        schema=schema,
        bindings=tuple(bindings),
        rows=tuple(rows),
        issues=tuple(sorted(issues, key=sort_key)),
    )
