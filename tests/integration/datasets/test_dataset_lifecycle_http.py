"""The dataset lifecycle over HTTP, on SQLite and PostgreSQL: every allowed and refused transition."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.datasets.conftest import (
    COMPLETE_METADATA,
    StudySpec,
    auth,
    create_dataset,
    post_action,
    upload,
    wait_for_job,
)
from tests.support.node_server import SeededNode


def _get(node: SeededNode, token: str, dataset_id: str) -> dict:
    response = httpx.get(f"{node.url}/datasets/{dataset_id}", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


def test_lifecycle_every_transition_and_refusal(both_db_node: SeededNode, tmp_path: Path) -> None:
    node, url = both_db_node, both_db_node.url
    ing, val, adm, out = node.ingester_token, node.validator_token, node.admin_token, node.outsider_token
    upload(node, tmp_path, [StudySpec("P1"), StudySpec("P2", sex="M")])
    ds = create_dataset(url, ing)
    dsid = ds["id"]
    assert ds["allowedActions"] == ["release", "invalidate", "aggregate"]
    assert "description" in ds["editableProperties"]
    assert ds["aggregates"]["subjects"] == 2
    # What each caller is told they may do, and may see.
    assert _get(node, val, dsid)["allowedActions"] == ["invalidate", "aggregate"]
    assert _get(node, val, dsid)["editableProperties"] == []
    assert httpx.get(f"{url}/datasets/{dsid}", headers=auth(out)).status_code == 403
    assert httpx.get(f"{url}/datasets/{dsid}").status_code == 401
    assert [d["id"] for d in httpx.get(f"{url}/datasets", headers=auth(out)).json()] == []

    # Release refused until the metadata is complete; the refusal lists what is missing.
    refused = post_action(url, ing, dsid, "release")
    assert refused.status_code == 409
    assert "required metadata missing: version, purpose, type" in refused.json()["detail"]
    # Refused before its time (409) or by the wrong role (403).
    assert post_action(url, val, dsid, "publish").status_code == 409
    assert post_action(url, ing, dsid, "publish").status_code == 403
    assert post_action(url, val, dsid, "release").status_code == 403
    assert post_action(url, out, dsid, "release").status_code == 403
    assert post_action(url, ing, dsid, "reactivate").status_code == 403

    # Metadata: bad values 400, others' edits 403, unknown properties 400.
    bad = httpx.patch(f"{url}/datasets/{dsid}", json={"type": ["photos"]}, headers=auth(ing))
    assert bad.status_code == 400 and "type: photos not allowed" in bad.json()["detail"]
    assert httpx.patch(f"{url}/datasets/{dsid}", json={"colour": "red"}, headers=auth(ing)).status_code == 400
    assert httpx.patch(f"{url}/datasets/{dsid}", json={"version": "2"}, headers=auth(val)).status_code == 403
    patched = httpx.patch(f"{url}/datasets/{dsid}", json=COMPLETE_METADATA, headers=auth(ing))
    assert patched.status_code == 200 and patched.json()["missingForRelease"] == []

    released = post_action(url, ing, dsid, "release")
    assert released.status_code == 200 and released.json()["state"] == "released"
    assert released.json()["allowedActions"] == ["invalidate", "aggregate"]
    assert released.json()["editableProperties"] == ["license", "contact"]
    assert post_action(url, ing, dsid, "release").status_code == 409
    # After release the description is frozen (409: not in this state), the contact is not.
    frozen = httpx.patch(f"{url}/datasets/{dsid}", json={"description": "new"}, headers=auth(ing))
    assert frozen.status_code == 409 and "cannot be changed while the dataset is released" in frozen.text
    contact = {"contact": {"name": "DPO", "email": "dpo@hospital.example"}}
    assert httpx.patch(f"{url}/datasets/{dsid}", json=contact, headers=auth(ing)).status_code == 200

    # Reject needs a reason, goes back to draft and says why.
    assert post_action(url, val, dsid, "reject").status_code == 400
    rejected = post_action(url, val, dsid, "reject", reason="license does not match the DTA")
    assert rejected.json()["state"] == "draft"
    assert _get(node, ing, dsid)["rejectionReason"] == "license does not match the DTA"
    assert post_action(url, ing, dsid, "release").status_code == 200
    assert _get(node, ing, dsid)["rejectionReason"] is None
    published = post_action(url, val, dsid, "publish")
    assert published.status_code == 200 and published.json()["state"] == "published"
    assert httpx.get(f"{url}/catalogue/datasets/{dsid}").status_code == 200

    # Invalidate (author may) with a reason; reactivate (validator) returns to published.
    assert post_action(url, ing, dsid, "invalidate").status_code == 400
    assert (
        post_action(url, ing, dsid, "invalidate", reason="consent withdrawn").json()["state"] == "invalidated"
    )
    assert httpx.get(f"{url}/catalogue/datasets/{dsid}").status_code == 404
    assert post_action(url, ing, dsid, "reactivate").status_code == 403
    assert post_action(url, adm, dsid, "reactivate").json()["state"] == "published"

    # The audit log has every step, chained; admins only.
    assert httpx.get(f"{url}/audit", headers=auth(val)).status_code == 403
    log = httpx.get(f"{url}/audit", headers=auth(adm)).json()
    assert log["verified"] is True
    actions = [e["action"] for e in log["log"]]
    assert actions == [
        "create", "ready", "update", "release", "update", "reject",
        "release", "publish", "invalidate", "reactivate",
    ]  # fmt: skip
    assert log["log"][5]["details"] == {
        "from": "released",
        "to": "draft",
        "reason": "license does not match the DTA",
    }


def test_versions_link_and_only_one_draft_per_previous(both_db_node: SeededNode, tmp_path: Path) -> None:
    node, url, ing = both_db_node, both_db_node.url, both_db_node.ingester_token
    upload(node, tmp_path, [StudySpec("P1")])
    first = create_dataset(url, ing, metadata=COMPLETE_METADATA)
    # A draft cannot be the previous version of anything.
    body = {"name": "version 2", "biobank": "test-bb", "previousId": first["id"]}
    is_draft = httpx.post(f"{url}/datasets", json=body, headers=auth(ing))
    assert is_draft.status_code == 409, is_draft.text
    assert post_action(url, ing, first["id"], "release").status_code == 200
    second = create_dataset(url, ing, metadata={"previousId": first["id"]}, name="version 2")
    assert second["previousId"] == first["id"]
    again = httpx.post(f"{url}/datasets", json=body, headers=auth(ing))
    assert again.status_code == 409 and "another draft already points" in again.json()["detail"]
    # Once the first new version leaves draft, another may point at the same previous.
    assert post_action(url, ing, second["id"], "invalidate", reason="wrong selection").status_code == 200
    third = create_dataset(url, ing, metadata={"previousId": first["id"]}, name="v2 again")
    assert third["previousId"] == first["id"]
    # Reactivating the invalidated draft would make two drafts point at it: refused.
    assert post_action(url, node.admin_token, second["id"], "reactivate").status_code == 409
    assert set(_get(node, ing, first["id"])["nextIds"]) == {second["id"], third["id"]}
    # Published, the new version supersedes the old one in the catalogue.
    assert httpx.patch(f"{url}/datasets/{third['id']}", json=COMPLETE_METADATA, headers=auth(ing)).is_success
    assert post_action(url, ing, third["id"], "release").status_code == 200
    for dataset_id in (first["id"], third["id"]):
        assert post_action(url, node.validator_token, dataset_id, "publish").status_code == 200
    old = httpx.get(f"{url}/catalogue/datasets/{first['id']}").json()
    assert old["supersededBy"] == [third["id"]]
    assert httpx.get(f"{url}/catalogue/datasets/{third['id']}").json()["previousId"] == first["id"]
    # Nobody else's dataset can be a previous version.
    body["previousId"] = "no-such-dataset"
    assert httpx.post(f"{url}/datasets", json=body, headers=auth(ing)).status_code == 400


def test_creation_refuses_bad_selections_and_other_biobanks(seeded_node: SeededNode, tmp_path: Path) -> None:
    url, ing = seeded_node.url, seeded_node.ingester_token
    spec = StudySpec("P1", series=(("CT", "CHEST", "GE", 2), ("MR", "CHEST", "GE", 1)))
    upload(seeded_node, tmp_path, [spec, StudySpec("P2")])
    body = {"name": "subset", "biobank": "other-bb"}
    assert httpx.post(f"{url}/datasets", json=body, headers=auth(ing)).status_code == 403
    assert (
        httpx.post(f"{url}/datasets", json=body, headers=auth(seeded_node.validator_token)).status_code == 403
    )
    body = {"name": "subset", "biobank": "test-bb", "selection": {"kind": "patients", "ids": ["P1"]}}
    assert httpx.post(f"{url}/datasets", json=body, headers=auth(ing)).status_code == 400
    body["selection"] = {"kind": "subjects", "ids": []}
    assert httpx.post(f"{url}/datasets", json=body, headers=auth(ing)).status_code == 400
    # An unknown subject: the job ends in error and says so; the dataset stays unusable.
    body["selection"] = {"kind": "subjects", "ids": ["P1", "NOT-UPLOADED"]}
    created = httpx.post(f"{url}/datasets", json=body, headers=auth(ing))
    assert created.status_code == 202
    job = wait_for_job(url, ing, created.json()["id"])
    assert job["status"] == "error"
    assert "1 of the 2 selected subjects are not in this biobank (first: NOT-UPLOADED)" in job["message"]
    assert post_action(url, ing, created.json()["id"], "release").status_code == 409
    # Once the missing subject is uploaded, the holder restarts the failed job.
    failed_id = created.json()["id"]
    assert httpx.get(f"{url}/datasets/{failed_id}", headers=auth(ing)).json()["allowedActions"] == ["restart"]
    restart = f"{url}/datasets/{failed_id}/job/restart"
    assert httpx.post(restart, headers=auth(seeded_node.outsider_token)).status_code == 403
    assert httpx.post(restart, headers=auth(seeded_node.validator_token)).status_code == 403
    upload(seeded_node, tmp_path / "late", [StudySpec("NOT-UPLOADED")])
    assert httpx.post(restart, headers=auth(ing)).status_code == 202
    assert wait_for_job(url, ing, failed_id)["status"] == "finished"
    assert httpx.get(f"{url}/datasets/{failed_id}", headers=auth(ing)).json()["state"] == "draft"
    assert httpx.post(restart, headers=auth(ing)).status_code == 409
    # By series and by study: exactly what was chosen is frozen.
    by_series = create_dataset(url, ing, selection={"kind": "series", "ids": [spec.series_uids[1]]})
    assert (by_series["aggregates"]["series"], by_series["aggregates"]["instances"]) == (1, 1)
    by_study = create_dataset(url, ing, selection={"kind": "studies", "ids": [spec.study_uid]})
    assert (by_study["aggregates"]["studies"], by_study["aggregates"]["series"]) == (1, 2)
    by_subject = create_dataset(url, ing, selection={"kind": "subjects", "ids": ["P2"]})
    assert by_subject["aggregates"]["subjects"] == 1
    # Later uploads never change a frozen dataset: a recompute reads the same series.
    upload(seeded_node, tmp_path / "more", [StudySpec("P3")])
    recomputed = httpx.post(f"{url}/datasets/{by_subject['id']}/aggregate", headers=auth(ing))
    assert recomputed.status_code == 200 and recomputed.json()["aggregates"]["subjects"] == 1
    whole = create_dataset(url, ing)
    assert whole["aggregates"]["subjects"] == 4
    assert (
        httpx.post(
            f"{url}/datasets/{whole['id']}/aggregate", headers=auth(seeded_node.outsider_token)
        ).status_code
        == 403
    )
