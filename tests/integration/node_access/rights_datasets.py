"""Rights of the dataset and catalogue endpoints (see rights_core.py for the line format).

Each lifecycle action gets its own dataset in the state the action needs. Calls run in the order
anonymous, other, validator, own, admin; after the first successful call the dataset has moved
on, so a later caller who may do the action in principle gets 409 (not now), one who may never
do it 403.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.node_server import deidentified_instance, stow_body

COMPLETE = {
    "description": "Chest CT",
    "version": "1.0",
    "purpose": "research",
    "type": ["original"],
    "collectionMethod": ["cohort"],
    "provenance": "Hospital X",
    "license": {"title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    "contact": {"name": "Data Office", "email": "data@hospital.example"},
    "keywords": ["lung"],
    "cancerCondition": "Lung cancer",
    "interoperabilityTier": "tier 1",
}
DS = "/datasets/{dataset_id}"
CAT = "/catalogue/datasets/{dataset_id}"
SEARCH = {"ast": {"operand": "AND", "children": [{"key": "modality", "type": "EQUALS", "value": "CT"}]}}

RIGHTS: dict[str, str] = {
    "POST /datasets": "401 ok 403 403 ok",
    "GET /datasets": "401 ok ok ok ok",
    f"GET {DS}": "401 ok 403 ok ok",
    f"PATCH {DS}": "401 ok 403 403 ok",
    f"GET {DS}/job": "401 ok 403 ok ok",
    f"POST {DS}/aggregate": "401 ok 403 ok ok",
    f"POST {DS}/job/restart": "401 ok 403 403 409",
    f"POST {DS}/release": "401 ok 403 403 409",
    f"POST {DS}/publish": "401 403 403 ok 409",
    f"POST {DS}/reject": "401 403 403 ok 409",
    f"POST {DS}/invalidate": "401 409 403 ok 409",
    f"POST {DS}/reactivate": "401 403 403 ok 409",
    "GET /audit": "401 403 403 403 ok",
    # node jobs: all for admins; an aggregation job for whoever sees its dataset
    "GET /jobs": "401 403 403 403 ok",
    "GET /jobs/{job_id}": "401 ok 403 ok ok",
    # the public catalogue: anonymous, and a token changes nothing
    "GET /catalogue/datasets": "ok ok ok ok ok",
    f"GET {CAT}": "ok ok ok ok ok",
    f"GET {CAT}/dcat.jsonld": "ok ok ok ok ok",
    f"GET {CAT}/dcat.ttl": "ok ok ok ok ok",
    f"GET {CAT}/beacon": "ok ok ok ok ok",
    "POST /catalogue/search": "ok ok ok ok ok",
    "GET /catalogue/search": "ok ok ok ok ok",
}

PROBES: dict[str, dict[str, Any]] = {
    "POST /datasets": {"json": lambda probe: {"name": probe.unique("matrix"), "biobank": "test-bb"}},
    f"PATCH {DS}": {"params": {"dataset_id": "draft_dataset"}, "json": {"version": "2.0"}},
    f"GET {DS}": {"params": {"dataset_id": "draft_dataset"}},
    f"GET {DS}/job": {"params": {"dataset_id": "draft_dataset"}},
    f"POST {DS}/aggregate": {"params": {"dataset_id": "draft_dataset"}},
    "GET /jobs/{job_id}": {"params": {"job_id": "aggregation_job"}},
    f"POST {DS}/job/restart": {"params": {"dataset_id": "failed_dataset"}},
    f"POST {DS}/release": {"params": {"dataset_id": "releasable_dataset"}},
    f"POST {DS}/publish": {"params": {"dataset_id": "publishable_dataset"}},
    f"POST {DS}/reject": {"params": {"dataset_id": "rejectable_dataset"}, "json": {"reason": "incomplete"}},
    f"POST {DS}/invalidate": {
        "params": {"dataset_id": "invalidatable_dataset"},
        "json": {"reason": "withdrawn"},
    },
    f"POST {DS}/reactivate": {"params": {"dataset_id": "reactivatable_dataset"}},
    "POST /catalogue/search": {"json": SEARCH},
    **{
        f"GET {CAT}{suffix}": {"params": {"dataset_id": "published_dataset"}}
        for suffix in ("", "/dcat.jsonld", "/dcat.ttl", "/beacon")
    },
}


def failed_then_fixed(probe: Any) -> str:
    """A dataset whose job failed on a subject not yet uploaded, which is uploaded afterwards."""
    node, own = probe.node, probe.tokens["own"]
    body = {"name": "matrix failed", "biobank": "test-bb", "selection": {"kind": "subjects", "ids": ["LATE"]}}
    dataset_id = str(httpx.post(f"{node.url}/datasets", json=body, headers=node.auth(own)).json()["id"])
    deadline = time.monotonic() + 30
    while (
        httpx.get(f"{node.url}/datasets/{dataset_id}/job", headers=node.auth(own)).json()["status"] != "error"
    ):
        assert time.monotonic() < deadline, "the creation job did not fail"
        time.sleep(0.05)
    path = probe.files / "late.dcm"
    deidentified_instance(path, patient_id="LATE")
    content_type, stow = stow_body([path])
    stored = httpx.post(
        f"{node.dicomweb_url('test-bb')}/studies",
        content=stow,
        headers={**node.auth(own), "Content-Type": content_type},
    )
    assert stored.status_code == 200, stored.text
    return dataset_id


def prepare(probe: Any) -> None:
    """Create one dataset per state the matrix needs, as the managing ingester (and the validator)."""
    node, own, validator = probe.node, probe.tokens["own"], probe.tokens["validator"]

    def act(dataset_id: str, action: str, token: str, reason: str | None = None) -> None:
        body = {"reason": reason} if reason else None
        response = httpx.post(
            f"{node.url}/datasets/{dataset_id}/{action}", json=body, headers=node.auth(token)
        )
        assert response.status_code == 200, response.text

    def ready(name: str, *steps: tuple[str, str]) -> str:
        body = {"name": name, "biobank": "test-bb", **COMPLETE}
        created = httpx.post(f"{node.url}/datasets", json=body, headers=node.auth(own))
        assert created.status_code == 202, created.text
        dataset_id = str(created.json()["id"])
        deadline = time.monotonic() + 30
        while (
            httpx.get(f"{node.url}/datasets/{dataset_id}/job", headers=node.auth(own)).json()["status"]
            != "finished"
        ):
            assert time.monotonic() < deadline, "dataset creation did not finish"
            time.sleep(0.05)
        tokens = {"own": own, "validator": validator}
        for action, who in steps:
            act(dataset_id, action, tokens[who], reason="for the matrix" if action == "invalidate" else None)
        return dataset_id

    probe.values["draft_dataset"] = ready("matrix draft")
    draft = probe.values["draft_dataset"]
    assert httpx.post(f"{node.url}/datasets/{draft}/aggregate", headers=node.auth(own)).status_code == 200
    jobs = httpx.get(f"{node.url}/jobs", headers=node.auth(probe.tokens["admin"])).json()
    probe.values["aggregation_job"] = next(j["id"] for j in jobs if j.get("dataset") == draft)
    probe.values["releasable_dataset"] = ready("matrix releasable")
    probe.values["publishable_dataset"] = ready("matrix publishable", ("release", "own"))
    probe.values["rejectable_dataset"] = ready("matrix rejectable", ("release", "own"))
    probe.values["invalidatable_dataset"] = ready("matrix invalidatable")
    probe.values["reactivatable_dataset"] = ready("matrix reactivatable", ("invalidate", "own"))
    probe.values["failed_dataset"] = failed_then_fixed(probe)
    probe.values["published_dataset"] = ready(
        "matrix published", ("release", "own"), ("publish", "validator")
    )
