"""Read clinical JSON: a list of subject objects, one object, objects keyed by patient ID, or JSON Lines.

Nested objects are flattened to dotted paths (``diagnosis.date``); an object holding only
``value`` (the CHAIMELEON eForm style ``{"value": 54}``) collapses to that value; lists of plain
values become one ``a|b`` cell, as multi-code fields expect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eucaim.clinical.table import Cell, SourceInfo, SourceRow, Table
from eucaim.errors import ClinicalDataError


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Cell]:
    """Flatten nested objects and lists into ``dotted.path -> scalar``."""
    flat: dict[str, Cell] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and set(value) == {"value"}:
            value = value["value"]
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                flat[path] = "|".join("" if v is None else str(v) for v in value)
            else:
                for index, item in enumerate(value):
                    nested = item if isinstance(item, dict) else {"": item}
                    flat.update(flatten(nested, f"{path}.{index}."))
        else:
            flat[path] = value
    return {k.rstrip("."): v for k, v in flat.items()}


def _keyed_by_subject(data: dict[str, Any]) -> bool:
    """``{"P001": {...}, "P002": {...}}``: several objects with the same keys, one per subject.

    A single subject with nested sections (``{"patient": {...}, "diagnosis": {...}}``) has
    objects with different keys, so it is not mistaken for this.
    """
    values = list(data.values())
    if len(values) < 2 or not all(isinstance(v, dict) for v in values):
        return False
    return len({frozenset(v) for v in values}) == 1


def _subjects(data: Any, name: str) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [
            v for v in data.values() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)
        ]
        if len(data) == 1 and len(lists) == 1:
            return lists[0]  # a wrapper such as {"subjects": [...]}
        if _keyed_by_subject(data):
            return [{"patient_id": key, **value} for key, value in data.items()]
        return [data]
    raise ClinicalDataError(
        f"{name} holds a JSON {type(data).__name__}, not subject objects",
        hint="give a list of objects, one per subject",
    )


def parse_json(text: str, *, name: str) -> Table:
    """Parse JSON or JSON Lines text into a table, one row per subject object."""
    noun = "record"
    try:
        items = list(enumerate(_subjects(json.loads(text), name), start=1))
    except json.JSONDecodeError as exc:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if exc.msg != "Extra data" or len(lines) < 2:
            raise ClinicalDataError(
                f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                hint="fix the JSON syntax there (a validator such as `python -m json.tool` shows it)",
            ) from exc
        noun, items = "line", []
        for number, line in lines:
            try:
                items.append((number, json.loads(line)))
            except json.JSONDecodeError as line_exc:
                raise ClinicalDataError(
                    f"{name} line {number} is not valid JSON: {line_exc.msg}",
                    hint="each line of a JSON Lines file must hold one complete object",
                ) from line_exc
    columns: dict[str, None] = {}
    rows: list[SourceRow] = []
    for number, item in items:
        if not isinstance(item, dict):
            raise ClinicalDataError(
                f"{name} {noun} {number} is a JSON {type(item).__name__}, not an object",
                hint='each subject must be an object such as {"patient_id": ..., "sex": ...}',
            )
        cells = flatten(item)
        columns.update(dict.fromkeys(cells))
        rows.append(SourceRow(number, cells))
    info = SourceInfo(name=name, format="json", encoding="utf-8", row_noun=noun)
    return Table(source=info, columns=tuple(columns), rows=tuple(rows))


def read_json(path: Path) -> Table:
    """Read a JSON or JSON Lines file (UTF-8, with or without a byte-order mark)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ClinicalDataError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ClinicalDataError(
            f"{path.name} is not UTF-8 (byte {exc.start})", hint="JSON must be UTF-8; re-save it as UTF-8"
        ) from exc
    return parse_json(text, name=path.name)
