"""The node's clinical endpoints over HTTP: store, re-validate, version, list, bulk, rights, linkage."""

from __future__ import annotations

import json

import httpx
import pytest

from eucaim.node.api.routes import clinical as clinical_routes
from tests.support.node_server import RunningNode

from .conftest import IMAGED, NOT_IMAGED, ClinicalNode, record

pytestmark = pytest.mark.integration
A, B = IMAGED


def test_put_creates_then_unchanged_then_updates_with_history(clinical_node: ClinicalNode) -> None:
    first = clinical_node.put(A, record(A))
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["subject"] == A and created["version"] == 1 and created["status"] == "created"
    assert len(created["content_hash"]) == 64

    again = clinical_node.put(A, record(A))
    assert again.status_code == 200
    assert again.json() == created | {"status": "unchanged"}

    changed = clinical_node.put(A, record(A, sex="male"))
    assert changed.status_code == 200
    assert changed.json()["status"] == "updated" and changed.json()["version"] == 2
    assert changed.json()["content_hash"] != created["content_hash"]

    current = clinical_node.get(A).json()
    assert current["version"] == 2 and current["record"] == record(A, sex="male")
    assert "history" not in current
    history = clinical_node.get(A, history="true").json()["history"]
    assert [(h["version"], h["content_hash"]) for h in history] == [
        (1, created["content_hash"]),
        (2, changed.json()["content_hash"]),
    ]
    assert all(h["created_at"].endswith("Z") for h in history)
    assert clinical_node.get(A, version=1).json()["record"] == record(A)
    assert clinical_node.get(A, version=3).status_code == 404
    assert clinical_node.get(B).status_code == 404

    listing = clinical_node.get().json()
    assert listing["total"] == 1
    assert listing["subjects"] == [
        {"subject": A, "version": 2, "content_hash": changed.json()["content_hash"],
         "updated_at": history[1]["created_at"]}
    ]  # fmt: skip


def test_node_validates_again_and_names_the_fields(clinical_node: ClinicalNode) -> None:
    bad = record(A, sex="yes", age_at_diagnosis=250, date_pathological_confirmation=None, smoker="no")
    response = clinical_node.put(A, bad)
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["status"] == "rejected" and body["subject"] == A and body["version"] is None
    by_field = {p["field"]: p["rule"] for p in body["problems"]}
    assert set(by_field) >= {"sex", "age_at_diagnosis", "date_pathological_confirmation", "smoker"}
    assert by_field["date_pathological_confirmation"] == "required"
    assert by_field["smoker"] == "unknown-field"
    assert all(p["message"] and p["hint"] for p in body["problems"])
    assert clinical_node.get(A).status_code == 404  # nothing stored

    wrong_schema = record(A) | {"schema_version": "0.9"}
    rules = {p["rule"] for p in clinical_node.put(A, wrong_schema).json()["problems"]}
    assert "schema-version" in rules
    mismatch = clinical_node.put(A, record(B))
    assert mismatch.status_code == 422
    assert [p["rule"] for p in mismatch.json()["problems"]] == ["subject-mismatch"]
    out_of_order = record(A, date_radiological_detection="2012-01-01")
    order = clinical_node.put(A, out_of_order).json()["problems"]
    assert [p["rule"] for p in order] == ["detection-before-treatment"]
    not_json_object = clinical_node.put(A, ["not", "a", "record"])
    assert not_json_object.status_code == 400


def test_subject_without_images_is_refused_unless_the_biobank_allows_it(clinical_node: ClinicalNode) -> None:
    refused = clinical_node.put(NOT_IMAGED, record(NOT_IMAGED))
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["rule"] == "subject-without-images" and problem["field"] == "subject"
    assert "push the subject's images first" in problem["hint"]

    clinical_node.configure(allow_clinical_only=True)
    assert clinical_node.put(NOT_IMAGED, record(NOT_IMAGED)).status_code == 201


def test_biobank_schema_extension_adds_fields(clinical_node: ClinicalNode) -> None:
    extended = record(A, smoking_status="former")
    assert clinical_node.put(A, extended).json()["problems"][0]["rule"] == "unknown-field"
    extension = (
        '{"extends": "eucaim-minimum", "name": "lung-extras", "version": "1", "fields": [{"name": '
        '"smoking_status", "type": "code", "codes": [{"code": "never"}, {"code": "former"}]}]}'
    )
    clinical_node.configure(schema_extension=extension)
    assert clinical_node.put(A, extended).status_code == 201
    wrong_code = clinical_node.put(A, record(A, smoking_status="sometimes"))
    assert [p["field"] for p in wrong_code.json()["problems"]] == ["smoking_status"]


def test_rights_managers_write_validators_and_admins_read(clinical_node: ClinicalNode) -> None:
    seeded = clinical_node.seeded
    assert clinical_node.put(A, record(A)).status_code == 201
    assert clinical_node.put(A, record(A, sex="male"), token=seeded.outsider_token).status_code == 403
    assert clinical_node.get(A, token=seeded.outsider_token).status_code == 403
    assert clinical_node.get(token=seeded.outsider_token).status_code == 403
    assert clinical_node.bulk([record(B)], token=seeded.outsider_token).status_code == 403
    assert clinical_node.put(A, record(A, sex="male"), token=seeded.validator_token).status_code == 403
    assert clinical_node.get(A, token=seeded.validator_token).json()["version"] == 1
    assert clinical_node.get(token=seeded.admin_token).json()["total"] == 1
    assert clinical_node.get(A, token="not-a-token").status_code == 401
    unknown = clinical_node.put(A, record(A), token=seeded.admin_token)
    assert unknown.status_code == 200  # admins may write every biobank
    nowhere = clinical_node.get(A, token=seeded.admin_token).request.url
    assert "test-bb" in str(nowhere)


def test_bulk_partial_success_in_order_and_idempotent(clinical_node: ClinicalNode) -> None:
    batch = [record(A), record(B, sex="nope"), "not an object", record(NOT_IMAGED), record(A, sex="male")]
    response = clinical_node.bulk(batch)
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = [(r["subject"], r["status"], r["version"]) for r in body["results"]]
    assert statuses == [
        (A, "created", 1),
        (B, "rejected", None),
        (None, "rejected", None),
        (NOT_IMAGED, "rejected", None),
        (A, "updated", 2),
    ]
    assert body["counts"] == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 3}
    assert body["results"][1]["problems"][0]["field"] == "sex"
    assert body["results"][2]["problems"][0]["rule"] == "record-shape"
    again = clinical_node.bulk([record(A, sex="male"), record(B)]).json()
    assert [r["status"] for r in again["results"]] == ["unchanged", "created"]
    assert clinical_node.get().json()["total"] == 2


def test_listing_pages_and_bulk_has_a_limit(clinical_node: ClinicalNode) -> None:
    clinical_node.configure(allow_clinical_only=True)
    subjects = [f"EUCAIM-{n:016X}" for n in range(7)]
    assert clinical_node.bulk([record(s) for s in subjects]).json()["counts"]["created"] == 7
    pages = [clinical_node.get(limit=3, offset=o).json() for o in (0, 3, 6)]
    assert [p["total"] for p in pages] == [7, 7, 7]
    assert [s["subject"] for p in pages for s in p["subjects"]] == sorted(subjects)
    too_many = clinical_node.bulk([record(A)] * 1001)
    assert too_many.status_code == 413 and "chunks" in too_many.json()["hint"]
    assert clinical_node.get(limit=0).status_code == 400


def test_bodies_that_are_too_large_or_not_json_are_refused(
    clinical_node: ClinicalNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clinical_routes, "MAX_BODY_BYTES", 10_000)
    headers = RunningNode.auth(clinical_node.seeded.ingester_token) | {"Content-Type": "application/json"}
    big = json.dumps([record(A)] * 40).encode()
    declared = httpx.post(clinical_node.url(), content=big, headers=headers)
    assert declared.status_code == 413 and "fewer records" in declared.json()["hint"]
    streamed = httpx.post(clinical_node.url(), content=iter([big[:6000], big[6000:]]), headers=headers)
    assert streamed.status_code == 413
    not_json = httpx.put(clinical_node.url(A), content=b"{nope", headers=headers)
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["detail"]
    not_list = httpx.post(clinical_node.url(), json=record(A), headers=headers)
    assert not_list.status_code == 400 and "list of records" in not_list.json()["detail"]
    assert clinical_node.get().json()["total"] == 0
