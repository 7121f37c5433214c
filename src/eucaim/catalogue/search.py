"""Federated search: EUCAIM's search AST evaluated against published datasets' public views.

Request shape (EUCAIM ``eucaimSearch``)::

    {"ast": {"operand": "AND", "children": [
        {"key": "RID10311", "type": "IN", "value": ["CT", "MR"]},
        {"key": "SNOMEDCT423493009", "type": "BETWEEN", "value": {"min": 40, "max": 70}},
        {"operand": "OR", "children": [...]}]}}

Keys (the EUCAIM codes or our names): sex, age, diagnosis, year, modality, bodyPart, manufacturer.
Types: EQUALS, NOT_EQUALS, IN, CONTAINS, BETWEEN, LOWER_THAN, GREATER_THAN. A categorical key
matches a dataset that has the value; an age or year matches when the dataset's range meets it
(a range the catalogue withholds matches nothing). Only the public (suppressed) view is searched,
so a search cannot reveal more than the catalogue shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eucaim.catalogue.harmonise import find_terms

KEY_ALIASES = {
    "SNOMEDCT263495000": "sex",
    "SNOMEDCT423493009": "age",
    "SNOMEDCT439401001": "diagnosis",
    "SNOMEDCT432213005": "year",
    "RID10311": "modality",
    "SNOMEDCT123037004": "bodyPart",
    "C25392": "manufacturer",
}
CATEGORICAL = ("sex", "diagnosis", "modality", "bodyPart", "manufacturer")
TYPES = ("EQUALS", "NOT_EQUALS", "IN", "CONTAINS", "BETWEEN", "LOWER_THAN", "GREATER_THAN")


class SearchError(ValueError):
    """The search request is malformed; the message names the part."""


def matches(node: Mapping[str, Any], public: Mapping[str, Any]) -> bool:
    """Return True when the dataset's public view satisfies the AST ``node``.

    Raises:
        SearchError: an unknown key, type or operand, or a value of the wrong shape.
    """
    if "operand" in node:
        operand = str(node["operand"]).upper()
        children = node.get("children")
        if operand not in ("AND", "OR") or not isinstance(children, list):
            raise SearchError(f"operand must be AND or OR with a list of children, got {node['operand']!r}")
        results = [matches(child, public) for child in children]
        return all(results) if operand == "AND" else any(results)
    key = KEY_ALIASES.get(str(node.get("key")), str(node.get("key")))
    kind = str(node.get("type", "EQUALS")).upper()
    if kind not in TYPES:
        raise SearchError(f"unknown condition type {node.get('type')!r}; use one of {', '.join(TYPES)}")
    value = node.get("value")
    agg = public["aggregates"]
    if key in CATEGORICAL:
        return _categorical(key, kind, value, [row["label"] for row in agg[key]])
    if key == "age":
        return _in_range(kind, value, agg["ageYears"])
    if key == "year":
        return _in_range(kind, value, agg["diagnosisYear"]) or _in_range(kind, value, agg["acquisitionYear"])
    raise SearchError(
        f"unknown search key {node.get('key')!r}; use one of {', '.join(CATEGORICAL)}, age, year"
    )


def _categorical(key: str, kind: str, value: Any, labels: list[str]) -> bool:
    have = {label.lower() for label in labels if label != "Unknown"}
    if kind in ("IN", "EQUALS", "NOT_EQUALS"):
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int) for v in values):
            raise SearchError(f"{key}: {kind} needs a value or a list of values")
        wanted = set().union(*(find_terms(key, str(v)) for v in values)) if values else set()
        hit = bool(have & wanted)
        return not hit if kind == "NOT_EQUALS" else hit
    if kind == "CONTAINS":
        return any(str(value).lower() in label for label in have)
    raise SearchError(f"{key}: {kind} does not apply to a categorical key")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SearchError(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise SearchError(f"{what} must be a number, got {value!r}") from exc


def _in_range(kind: str, value: Any, rng: Mapping[str, Any]) -> bool:
    low, high = rng.get("min"), rng.get("max")
    if low is None or high is None:
        return False
    if kind == "BETWEEN":
        if isinstance(value, Mapping):
            lo, hi = value.get("min"), value.get("max")
        elif isinstance(value, list) and len(value) == 2:
            lo, hi = value
        else:
            raise SearchError("BETWEEN needs {'min': a, 'max': b} or [a, b]")
        lo_n = _number(lo, "min") if lo is not None else float("-inf")
        hi_n = _number(hi, "max") if hi is not None else float("inf")
        return bool(low <= hi_n and high >= lo_n)
    if kind == "LOWER_THAN":
        return bool(low < _number(value, "value"))
    if kind == "GREATER_THAN":
        return bool(high > _number(value, "value"))
    if kind in ("EQUALS", "IN"):
        values = value if isinstance(value, list) else [value]
        return any(low <= _number(v, "value") <= high for v in values)
    if kind == "NOT_EQUALS":
        return not (low == high == _number(value, "value"))
    raise SearchError(f"{kind} does not apply to a range key")


def collection(public: Mapping[str, Any]) -> dict[str, Any]:
    """Return one dataset as an entry of the search response's ``collections``."""
    agg = public["aggregates"]
    return {
        "id": public["id"],
        "name": public["name"],
        "description": public.get("description") or "",
        "studies_count": agg["studies"],
        "subjects_count": agg["subjects"],
        "age_range": {"min": agg["ageYears"].get("min"), "max": agg["ageYears"].get("max")},
        "gender": [row["label"] for row in agg["sex"]],
        "modality": [row["label"] for row in agg["modality"]],
        "body_parts": [row["label"] for row in agg["bodyPart"]],
        "manufacturer": [row["label"] for row in agg["manufacturer"]],
        "diagnosis": [row["label"] for row in agg["diagnosis"]],
    }
