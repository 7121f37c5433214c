"""The declared clinical schema: fields, codes, ranges and cross-field rules, loaded from JSON.

A schema file (``schemas/<name>-<version>.json``) lists fields with a ``type`` (string, code,
number, integer, date, text, boolean, icdo3-morphology), the populations that require them
(``required_for``, ``"*"`` for all), and ``rules`` across fields (``date-order``,
``age-matches-dates``). A biobank adds fields and rules with an extension file
(``{"extends": "eucaim-minimum", "name": ..., "version": ..., "fields": [...], "rules": [...]}``).
Parsing is pure; ``load_schema`` reads the package's files and the extension paths it is given.
"""

from __future__ import annotations

import fnmatch
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from eucaim.errors import ConfigError

FIELD_TYPES = frozenset(
    {"string", "code", "number", "integer", "date", "text", "boolean", "icdo3-morphology"}
)
RULE_KINDS = frozenset({"date-order", "age-matches-dates"})
ALL_POPULATIONS = "*"
DEFAULT_SCHEMA = "eucaim-minimum"


def normalise_name(name: str) -> str:
    """Fold a column name for matching: ``PatientID``, ``patient_id`` and ``Patient ID`` meet."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return re.sub(r"[^0-9a-z]", "", decomposed)


@dataclass(frozen=True)
class Code:
    """One allowed value of a code field, with the spellings accepted for it."""

    code: str
    label: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    """One column of the schema."""

    name: str
    type: str
    description: str = ""
    required_for: frozenset[str] = frozenset()
    required_unless: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    codes: tuple[Code, ...] = ()
    multiple: bool = False
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None
    max_length: int | None = None
    unit: str | None = None
    aliases: tuple[str, ...] = ()
    # Identifying values are never shown in reports; only the ID column is uploaded (as pseudonym).
    identifying: bool = False
    upload: bool = True
    # A field that only an explicit mapping entry may fill (the birth date): never matched by name.
    explicit_only: bool = False

    @property
    def is_free_text(self) -> bool:
        return self.type == "text"

    def is_required(self, population: str | None) -> bool:
        if ALL_POPULATIONS in self.required_for:
            return True
        return population is not None and population in self.required_for

    def is_needed(self, population: str | None, values: Mapping[str, object]) -> bool:
        """Required for this population and not waived by ``required_unless`` (e.g. no treatment)."""
        if not self.is_required(population):
            return False
        for other, codes in self.required_unless.items():
            value = values.get(other)
            present = set(value) if isinstance(value, tuple) else {value}
            if None not in present and present <= set(codes):
                return False
        return True

    def find_code(self, value: str) -> str | None:
        """Return the canonical code ``value`` spells (case-insensitively), or ``None``.

        An alias with ``*`` is a wildcard: ``C50.*`` takes every ICD-O-3 breast subsite.
        """
        folded = value.strip().casefold()
        for code in self.codes:
            if folded == code.code.casefold():
                return code.code
            for alias in code.aliases:
                alias = alias.casefold()
                if folded == alias or ("*" in alias and fnmatch.fnmatchcase(folded, alias)):
                    return code.code
        return None


@dataclass(frozen=True)
class Rule:
    """A rule across fields, with its parameters as declared."""

    id: str
    kind: str
    params: Mapping[str, Any]
    hint: str = ""


@dataclass(frozen=True)
class Schema:
    """A base schema plus the extensions applied to it."""

    name: str
    version: str
    id_field: str
    population_field: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[Rule, ...] = ()
    title: str = ""
    extensions: tuple[tuple[str, str], ...] = ()
    # Date fields that mark a subject's imaging timepoint, in order of preference.
    baseline_fields: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    def match_column(self, column: str) -> FieldSpec | None:
        """Return the field a column header names (by name or alias), ignoring case and punctuation."""
        wanted = normalise_name(column)
        for spec in self.fields:
            if spec.explicit_only:
                continue
            if wanted in {normalise_name(n) for n in (spec.name, *spec.aliases)}:
                return spec
        return None


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(
        f"clinical schema {where}: {message}",
        hint="fix the schema file; see src/eucaim/clinical/schemas/ for the format",
    )


def _parse_field(raw: Mapping[str, Any], where: str) -> FieldSpec:
    name = raw.get("name")
    ftype = raw.get("type")
    if not isinstance(name, str) or not name:
        raise _fail(where, "a field has no 'name'")
    if ftype not in FIELD_TYPES:
        raise _fail(where, f"field {name!r} has type {ftype!r}; use one of {sorted(FIELD_TYPES)}")
    codes = tuple(
        Code(str(c["code"]), str(c.get("label", c["code"])), tuple(str(a) for a in c.get("aliases", ())))
        for c in raw.get("codes", ())
    )
    if ftype == "code" and not codes:
        raise _fail(where, f"code field {name!r} declares no 'codes'")
    unless = {str(k): tuple(str(v) for v in vals) for k, vals in raw.get("required_unless", {}).items()}
    return FieldSpec(
        name=name,
        type=str(ftype),
        description=str(raw.get("description", "")),
        required_for=frozenset(str(p) for p in raw.get("required_for", ())),
        required_unless=unless,
        codes=codes,
        multiple=bool(raw.get("multiple", False)),
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        decimals=raw.get("decimals"),
        max_length=raw.get("max_length"),
        unit=raw.get("unit"),
        aliases=tuple(str(a) for a in raw.get("aliases", ())),
        identifying=bool(raw.get("identifying", False)),
        upload=bool(raw.get("upload", True)),
        explicit_only=bool(raw.get("explicit_only", False)),
    )


def _parse_rule(raw: Mapping[str, Any], where: str, names: set[str]) -> Rule:
    kind = raw.get("kind")
    rule_id = str(raw.get("id", kind))
    if kind not in RULE_KINDS:
        raise _fail(where, f"rule {rule_id!r} has kind {kind!r}; use one of {sorted(RULE_KINDS)}")
    referenced = [raw.get(k) for k in ("before", "after", "age", "birth")] + list(raw.get("at", []))
    for ref in referenced:
        if ref is not None and ref not in names:
            raise _fail(where, f"rule {rule_id!r} refers to unknown field {ref!r}")
    params = {k: v for k, v in raw.items() if k not in {"id", "kind", "hint"}}
    return Rule(id=rule_id, kind=str(kind), params=params, hint=str(raw.get("hint", "")))


def parse_schema(data: Mapping[str, Any], *, where: str = "<schema>") -> Schema:
    """Build a ``Schema`` from a decoded base schema file; raise ``ConfigError`` when it is malformed."""
    fields = tuple(_parse_field(f, where) for f in data.get("fields", ()))
    names = {f.name for f in fields}
    if len(names) != len(fields):
        raise _fail(where, "two fields share a name")
    for key in ("name", "version", "id_field", "population_field"):
        if not isinstance(data.get(key), str):
            raise _fail(where, f"missing {key!r}")
    if data["id_field"] not in names or data["population_field"] not in names:
        raise _fail(where, "id_field and population_field must name declared fields")
    rules = tuple(_parse_rule(r, where, names) for r in data.get("rules", ()))
    baseline = tuple(str(f) for f in data.get("baseline_fields", ()))
    if set(baseline) - names:
        raise _fail(where, f"baseline_fields names unknown field(s) {sorted(set(baseline) - names)}")
    return Schema(
        name=data["name"],
        version=data["version"],
        id_field=data["id_field"],
        population_field=data["population_field"],
        fields=fields,
        rules=rules,
        title=str(data.get("title", "")),
        baseline_fields=baseline,
    )


def extend_schema(base: Schema, data: Mapping[str, Any], *, where: str = "<extension>") -> Schema:
    """Return ``base`` with an extension's extra fields and rules; an extension cannot redefine a field."""
    if data.get("extends") != base.name:
        raise _fail(where, f"extension extends {data.get('extends')!r}, not {base.name!r}")
    extra = tuple(_parse_field(f, where) for f in data.get("fields", ()))
    clash = {f.name for f in extra} & set(base.field_names)
    if clash:
        raise _fail(where, f"extension redefines field(s) {sorted(clash)}; give extra fields new names")
    names = set(base.field_names) | {f.name for f in extra}
    rules = tuple(_parse_rule(r, where, names) for r in data.get("rules", ()))
    ext_id = (str(data.get("name", where)), str(data.get("version", "")))
    return Schema(
        name=base.name,
        version=base.version,
        id_field=base.id_field,
        population_field=base.population_field,
        fields=base.fields + extra,
        rules=base.rules + rules,
        title=base.title,
        extensions=(*base.extensions, ext_id),
        baseline_fields=base.baseline_fields,
    )


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read clinical schema {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise _fail(str(path), f"not valid JSON at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise _fail(str(path), "the top level must be an object")
    return data


def available_schemas() -> list[str]:
    """Return the names (``name-version``) of the schemas shipped in the package."""
    folder = resources.files("eucaim.clinical") / "schemas"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_schema(name: str = DEFAULT_SCHEMA, *, extensions: Sequence[Path] = ()) -> Schema:
    """Load a shipped schema by name (newest version) or ``name-version``, or a schema file by path."""
    candidate = Path(name)
    if candidate.suffix == ".json" and candidate.exists():
        base = parse_schema(_read_json(candidate), where=str(candidate))
    else:
        shipped = available_schemas()
        matches = [s for s in shipped if s == name or s.rsplit("-", 1)[0] == name]
        if not matches:
            raise ConfigError(
                f"unknown clinical schema {name!r}",
                hint=f"use one of {', '.join(shipped)} or the path of a schema .json file",
            )
        chosen = max(matches, key=lambda s: [int(p) for p in s.rsplit("-", 1)[1].split(".")])
        text = (resources.files("eucaim.clinical") / "schemas" / f"{chosen}.json").read_text("utf-8")
        base = parse_schema(json.loads(text), where=chosen)
    for path in extensions:
        base = extend_schema(base, _read_json(path), where=str(path))
    return base
