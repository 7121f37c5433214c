"""A site's column mapping (TOML): its column names and codes onto the schema's, and what to drop.

```toml
encoding = "cp1252"            # optional: skip detection (CSV)
delimiter = ";"                # optional (CSV)
sheet = "Clinical"             # optional (XLSX)
date_format = "%d/%m/%Y"       # optional: how this site writes dates
drop = ["Nombre", "Apellidos"] # columns removed before anything else looks at them

[columns]                      # site column -> schema field
"NHC" = "patient_id"

[values.sex]                   # per schema field: site value -> schema code
"H" = "male"
```
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from eucaim.clinical.issues import Issue, Severity
from eucaim.clinical.schema import Schema, normalise_name
from eucaim.errors import ConfigError

_KEYS = frozenset({"encoding", "delimiter", "sheet", "date_format", "drop", "columns", "values", "schema"})


@dataclass(frozen=True)
class ColumnMapping:
    """What a site's mapping file says; the empty mapping changes nothing."""

    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    date_format: str | None = None
    schema: str | None = None

    def translate(self, field_name: str, text: str, *, multiple: bool = False) -> str:
        """Replace a site value by the schema code the mapping gives (exact, then ignoring case)."""
        table = self.values.get(field_name)
        if not table:
            return text
        if multiple:
            parts = [p.strip() for p in text.replace(";", "|").split("|")]
            return "|".join(self.translate(field_name, p) for p in parts)
        if text in table:
            return table[text]
        folded = {k.strip().casefold(): v for k, v in table.items()}
        return folded.get(text.strip().casefold(), text)


def _str_table(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError(f'mapping {where} must be a table of "name" = "value" strings')
    return {str(k): v for k, v in raw.items()}


def parse_mapping(data: Mapping[str, Any], *, where: str = "mapping") -> ColumnMapping:
    """Build a ``ColumnMapping`` from decoded TOML; raise ``ConfigError`` naming the bad key."""
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}",
            hint=f"allowed keys are {sorted(_KEYS)}; put column renames under [columns]",
        )
    drop = data.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise ConfigError(f"{where}: drop must be a list of column names", hint='drop = ["Name"]')
    values = data.get("values", {})
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: [values] must hold one table per field, e.g. [values.sex]")
    optional = {k: data.get(k) for k in ("encoding", "delimiter", "sheet", "date_format", "schema")}
    for key, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string")
    return ColumnMapping(
        columns=_str_table(data.get("columns", {}), f"{where} [columns]"),
        values={f: _str_table(t, f"{where} [values.{f}]") for f, t in values.items()},
        drop=frozenset(drop),
        **optional,
    )


def load_mapping(path: Path) -> ColumnMapping:
    """Read a TOML mapping file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"mapping file {path} is not valid TOML: {exc}", hint="fix the line it names"
        ) from exc
    return parse_mapping(data, where=str(path))


class Binding(StrEnum):
    """What happens to a source column."""

    FIELD = "field"  # feeds a schema field
    DROP = "drop"  # removed by the mapping
    UNKNOWN = "unknown"  # matches nothing: not uploaded


@dataclass(frozen=True)
class ColumnBinding:
    """One source column and its fate; ``explicit`` when the mapping file named it."""

    column: str
    binding: Binding
    field: str | None = None
    explicit: bool = False


def leaf(column: str) -> str:
    """The last part of a joined header (``Group / Sex``) or a JSON path (``patient.sex``)."""
    return re.split(r" / |\.", column)[-1]


def _lookup(names: Mapping[str, str] | frozenset[str], column: str) -> str | None:
    """Find ``column`` among mapping keys, exactly or by folded name; return the key."""
    if column in names:
        return column
    folded = normalise_name(column)
    folded_leaf = normalise_name(leaf(column))
    for key in names:
        if normalise_name(key) in {folded, folded_leaf}:
            return key
    return None


def bind_columns(
    columns: tuple[str, ...], schema: Schema, mapping: ColumnMapping
) -> tuple[list[ColumnBinding], list[Issue]]:
    """Decide each column's fate: dropped, mapped or matched to a field, or unknown."""
    bad = sorted(set(mapping.columns.values()) - set(schema.field_names))
    bad += sorted(set(mapping.values) - set(schema.field_names))
    if bad:
        raise ConfigError(
            f"the mapping names field(s) {bad} that schema {schema.name} {schema.version} does not have",
            hint=f"map columns onto: {', '.join(schema.field_names)}",
        )
    bindings: list[ColumnBinding] = []
    issues: list[Issue] = []
    used: dict[str, str] = {}
    seen_keys: set[str] = set()
    for column in columns:
        if (key := _lookup(mapping.drop, column)) is not None:
            seen_keys.add(key)
            bindings.append(ColumnBinding(column, Binding.DROP, explicit=True))
            continue
        key = _lookup(mapping.columns, column)
        spec = schema.match_column(column) or schema.match_column(leaf(column))
        target = mapping.columns[key] if key is not None else (spec.name if spec else None)
        if key is not None:
            seen_keys.add(key)
        if target is None:
            bindings.append(ColumnBinding(column, Binding.UNKNOWN))
            continue
        if target in used:
            issues.append(
                Issue(
                    "duplicate-field",
                    f"columns {used[target]!r} and {column!r} both feed field {target}",
                    "map or drop one of them in the mapping file",
                    column=column,
                )
            )
            bindings.append(ColumnBinding(column, Binding.UNKNOWN))
            continue
        used[target] = column
        bindings.append(ColumnBinding(column, Binding.FIELD, target, explicit=key is not None))
    for key in sorted((set(mapping.columns) | mapping.drop) - seen_keys):
        issues.append(
            Issue(
                "mapping-unused",
                f"the mapping names column {key!r}, which the file does not have",
                "check the spelling against the file's header, or remove the entry",
                column=key,
                severity=Severity.WARNING,
            )
        )
    return bindings, issues
