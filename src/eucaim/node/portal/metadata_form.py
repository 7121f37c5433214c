"""The dataset metadata form: a dataset's properties as form fields, and submitted fields as a PATCH.

Pure: the route passes the dataset's view and the submitted form; what comes back is exactly the
``{property: value}`` dict ``PATCH /datasets/{id}`` takes, holding only properties that changed, so
the service checks and stores them as it does for the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eucaim.node.lifecycle import COLLECTION_METHODS, DATASET_TYPES

TEXT_FIELDS = (
    "name",
    "description",
    "version",
    "purpose",
    "provenance",
    "cancerCondition",
    "interoperabilityTier",
)
CHOICE_FIELDS = {"type": DATASET_TYPES, "collectionMethod": COLLECTION_METHODS}


def form_values(view: Mapping[str, Any]) -> dict[str, Any]:
    """Return the form's initial values from a dataset view."""
    values: dict[str, Any] = {name: view.get(name) or "" for name in TEXT_FIELDS}
    for name in CHOICE_FIELDS:
        values[name] = list(view.get(name) or [])
    values["keywords"] = ", ".join(view.get("keywords") or [])
    license_ = view.get("license") or {}
    values["license_title"], values["license_url"] = license_.get("title", ""), license_.get("url", "")
    contact = view.get("contact") or {}
    values["contact_name"], values["contact_email"] = contact.get("name", ""), contact.get("email", "")
    return values


def submitted_values(form: Mapping[str, str], lists: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Return the submitted form in the shape of :func:`form_values` (to show it again on error)."""
    values: dict[str, Any] = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    for name in CHOICE_FIELDS:
        values[name] = [v for v in lists.get(name, []) if v]
    for name in ("keywords", "license_title", "license_url", "contact_name", "contact_email"):
        values[name] = form.get(name, "").strip()
    return values


def changes(
    current: Mapping[str, Any], submitted: Mapping[str, Any], editable: Sequence[str]
) -> dict[str, Any]:
    """Return the properties the user changed, as the API's PATCH body (empty text clears a property)."""
    before = form_values(current)
    out: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in editable and submitted[name] != before[name]:
            out[name] = submitted[name] or None
    for name in CHOICE_FIELDS:
        if name in editable and sorted(submitted[name]) != sorted(before[name]):
            out[name] = submitted[name] or None
    if "keywords" in editable and submitted["keywords"] != before["keywords"]:
        words = [w.strip() for w in submitted["keywords"].split(",") if w.strip()]
        out["keywords"] = words or None
    if "license" in editable and (submitted["license_title"], submitted["license_url"]) != (
        before["license_title"],
        before["license_url"],
    ):
        title, url = submitted["license_title"], submitted["license_url"]
        out["license"] = {"title": title, "url": url} if title or url else None
    if "contact" in editable and (submitted["contact_name"], submitted["contact_email"]) != (
        before["contact_name"],
        before["contact_email"],
    ):
        name, email = submitted["contact_name"], submitted["contact_email"]
        out["contact"] = {"name": name, "email": email} if name or email else None
    return out


def error_field(parameter: str | None) -> str:
    """Return the form field an API parameter's error belongs to."""
    return {"license": "license_url", "contact": "contact_email"}.get(parameter or "", parameter or "")
