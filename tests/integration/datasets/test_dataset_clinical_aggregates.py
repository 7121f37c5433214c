"""Aggregates take sex, age, diagnosis and diagnosis year from clinical records where they exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.integration.datasets.conftest import StudySpec, auth, create_dataset, upload
from tests.support.node_server import SeededNode


def _record(subject: str, **fields: Any) -> dict[str, Any]:
    return {"subject": subject, "schema": "eucaim-minimum", "schema_version": "1.0", "dates": "shifted",
            "fields": fields}  # fmt: skip


CASE = {
    "population": "case",
    "sex": "female",
    "age_at_diagnosis": 61.2,
    "date_radiological_detection": "2011-09-13",
    "date_pathological_confirmation": "2011-10-17",
    "pathological_confirmation_method": "biopsy",
    "topography": "breast",
    "pathology": "8500/3",
    "imaging_protocol": "MR BREAST",
    "treatment": ["surgery"],
    "date_first_treatment": "2011-11-14",
}


def _rows(dataset: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {row["label"]: row for row in dataset["aggregates"][key]}


def test_clinical_values_override_dicom_in_the_aggregates(seeded_node: SeededNode, tmp_path: Path) -> None:
    url, token = seeded_node.url, seeded_node.ingester_token
    upload(seeded_node, tmp_path, [StudySpec("CLIN-1", sex="M", age="050Y"), StudySpec("CLIN-2", sex="M")])
    put = httpx.put(
        f"{url}/biobanks/test-bb/subjects/CLIN-1/clinical",
        json=_record("CLIN-1", **CASE),
        headers=auth(token),
    )
    assert put.status_code == 201, put.text
    dataset = create_dataset(url, token)
    aggregates = dataset["aggregates"]
    assert aggregates["clinicalSubjects"] == 1
    # CLIN-1's DICOM says male, its record female: the record wins; CLIN-2 keeps its DICOM sex.
    assert {k: v["subjects"] for k, v in _rows(dataset, "sex").items()} == {"Female": 1, "Male": 1}
    assert {k: v["subjects"] for k, v in _rows(dataset, "diagnosis").items()} == {"8500/3": 1, "Unknown": 1}
    assert aggregates["ageYears"]["min"] == 54 and aggregates["ageYears"]["max"] == 61
    assert aggregates["diagnosisYear"] == {"min": 2011, "max": 2011, "unknownSubjects": 1}
    # A record added later counts after a recompute.
    second = _record("CLIN-2", **{**CASE, "sex": "male", "pathology": "8140/3", "age_at_diagnosis": 0})
    assert httpx.put(
        f"{url}/biobanks/test-bb/subjects/CLIN-2/clinical", json=second, headers=auth(token)
    ).is_success
    recomputed = httpx.post(f"{url}/datasets/{dataset['id']}/aggregate", headers=auth(token)).json()
    assert recomputed["aggregates"]["ageYears"]["min"] == 0
    assert {r["label"] for r in recomputed["aggregates"]["diagnosis"]} == {"8500/3", "8140/3"}
