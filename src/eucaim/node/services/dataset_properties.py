"""Dataset metadata properties: check and normalise one value the way the API accepts it.

Names are the API's (``collectionMethod``, ``cancerCondition``); limits follow EUCAIM's dataset
service (name 3-256 characters, version up to 16).
"""

from __future__ import annotations

import re
from typing import Any

from eucaim.node.errors import InvalidRequest
from eucaim.node.lifecycle import ALL_PROPERTIES, COLLECTION_METHODS, DATASET_TYPES

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_LIMITS = {
    "name": (3, 256),
    "description": (0, 20000),
    "version": (0, 16),
    "purpose": (0, 2000),
    "provenance": (0, 4000),
    "cancerCondition": (0, 256),
    "interoperabilityTier": (0, 32),
}


def _bad(name: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{name}: {message}", parameter=name)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(name, "must be text")
    low, high = _TEXT_LIMITS[name]
    text: str = value.strip()
    if not low <= len(text) <= high:
        raise _bad(name, f"must be {low}-{high} characters long")
    return text


def _choices(name: str, value: Any, allowed: tuple[str, ...]) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _bad(name, "must be a list of text values")
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise _bad(name, f"{', '.join(wrong)} not allowed; use {', '.join(allowed)}")
    return list(dict.fromkeys(values))


def check_property(name: str, value: Any) -> Any:
    """Return ``value`` normalised for property ``name``.

    Raises:
        InvalidRequest: an unknown property or a value of the wrong shape (names the property).
    """
    if name not in ALL_PROPERTIES:
        raise _bad(name, f"unknown property; properties are {', '.join(ALL_PROPERTIES)}")
    if value is None:
        if name == "name":
            raise _bad(name, "a dataset needs a name")
        return None
    if name in _TEXT_LIMITS:
        return _text(name, value)
    if name == "type":
        return _choices(name, value, DATASET_TYPES)
    if name == "collectionMethod":
        return _choices(name, value, COLLECTION_METHODS)
    if name == "keywords":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _bad(name, "must be a list of non-empty words")
        return [v.strip() for v in value]
    if name == "license":
        if not isinstance(value, dict) or not isinstance(value.get("title"), str):
            raise _bad(name, "must be {'title': ..., 'url': ...}")
        url = value.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _bad(name, "url must be an http(s) URL")
        return {"title": value["title"].strip(), "url": url}
    if name == "contact":
        if not isinstance(value, dict) or not _EMAIL.match(str(value.get("email", ""))):
            raise _bad(name, "must be {'name': ..., 'email': ...} with a valid email")
        return {"name": str(value.get("name") or "").strip(), "email": str(value["email"])}
    if name == "previousId":
        if not isinstance(value, str):
            raise _bad(name, "must be a dataset id")
        return value
    raise AssertionError(f"unhandled property {name}")
