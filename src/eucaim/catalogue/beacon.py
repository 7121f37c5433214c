"""Beacon-style CollectionMetadata of a published dataset (EGA-archive/EUCAIM-Schema's shape).

Built from the public view only, so counts are suppressed the same way as everywhere else.
"""

from __future__ import annotations

from typing import Any


def _ontology_terms(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    terms = []
    for row in rows:
        system, code = row.get("system"), row.get("code")
        term_id = f"{'SNOMEDCT' if system == 'SNOMED-CT' else system}:{code}" if code and system else None
        terms.append({"id": term_id, "label": row["label"], "count": row.get("subjects")})
    return terms


def collection_metadata(public: dict[str, Any]) -> dict[str, Any]:
    """Return the Beacon CollectionMetadata of a dataset's public view."""
    agg = public["aggregates"]
    age = agg["ageYears"]
    return {
        "id": public["id"],
        "name": public["name"],
        "description": public.get("description") or "",
        "version": public.get("version"),
        "subjectsCount": agg["subjects"],
        "studiesCount": agg["studies"],
        "ageRange": {"min": age.get("min"), "max": age.get("max"), "unit": "years"},
        "modalities": _ontology_terms(agg["modality"]),
        "bodyParts": _ontology_terms(agg["bodyPart"]),
        "manufacturers": _ontology_terms(agg["manufacturer"]),
        "gender": _ontology_terms(agg["sex"]),
        "diagnoses": _ontology_terms(agg["diagnosis"]),
        "suppressionThreshold": agg["suppressionThreshold"],
    }
