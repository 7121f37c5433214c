"""After publishing, no anonymous endpoint shows a pseudonym, a UID, a per-subject value or a small count."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pydicom

from tests.integration.datasets.conftest import (
    COMPLETE_METADATA,
    StudySpec,
    auth,
    create_dataset,
    post_action,
    upload,
)
from tests.support.disclosure_attack import pinned_cells
from tests.support.node_server import SeededNode

PSEUDONYMS = [f"EUCAIM-LEAK{n:04d}" for n in range(7)]


def _secrets(tmp_path: Path, studies: list[StudySpec]) -> set[str]:
    """Every value that identifies a subject, study, series or instance, or is one subject's."""
    found = set(PSEUDONYMS)
    for path in (tmp_path / "upload").glob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        found |= {ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.PatientAge, ds.StudyDate}
    for study in studies:
        found |= set(study.series_uids)
    return found


def _anonymous_get_paths(url: str, dataset_id: str) -> list[str]:
    spec = httpx.get(f"{url}/openapi.json").json()
    paths = []
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        path = path.replace("{dataset_id}", dataset_id)
        # Any other identifier in a path gets a placeholder: we probe what leaks, not what echoes.
        paths.append(re.sub(r"\{[^}]+\}", "placeholder", path))
    return paths


def test_no_anonymous_endpoint_leaks_identifiers(seeded_node: SeededNode, tmp_path: Path) -> None:
    url = seeded_node.url
    studies = [
        StudySpec(p, sex="F" if n % 2 else "M", age=f"{30 + 7 * n:03d}Y", date=f"20{15 + n}0{n + 1}1{n}")
        for n, p in enumerate(PSEUDONYMS)
    ]
    studies[0].series = (("CT", "CHEST", "SIEMENS", 2), ("PT", "CHEST", "GE MEDICAL SYSTEMS", 1))
    upload(seeded_node, tmp_path, studies)
    secrets = _secrets(tmp_path, studies)
    selection = {"kind": "subjects", "ids": PSEUDONYMS}
    dataset = create_dataset(url, seeded_node.ingester_token, selection=selection, metadata=COMPLETE_METADATA)
    # The dataset's own record lists its subjects; the anonymous side must never show them.
    assert dataset["selection"]["ids"] == PSEUDONYMS
    assert post_action(url, seeded_node.ingester_token, dataset["id"], "release").status_code == 200
    assert post_action(url, seeded_node.validator_token, dataset["id"], "publish").status_code == 200
    paths = _anonymous_get_paths(url, dataset["id"])
    assert f"/catalogue/datasets/{dataset['id']}/dcat.ttl" in paths
    bodies: dict[str, str] = {}
    for path in paths:
        response = httpx.get(f"{url}{path}")
        bodies[path] = response.text
        # Other features add public endpoints too (health, discovery): all are crawled.
        assert response.status_code < 500, (path, response.text)
        if path.startswith("/catalogue"):
            assert response.status_code == 200, (path, response.text)
    for ast in ({"ast": {"operand": "AND", "children": []}}, {"ast": {"operand": "OR", "children": []}}):
        bodies["POST /catalogue/search"] = httpx.post(f"{url}/catalogue/search", json=ast).text
    bodies["search by modality"] = httpx.get(f"{url}/catalogue/search", params={"modality": "PT"}).text
    leaked = {path: sorted(s for s in secrets if s in body) for path, body in bodies.items()}
    assert {path: found for path, found in leaked.items() if found} == {}
    # Aggregates only: the catalogue entry has counts, and no list as long as the cohort.
    entry = json.loads(bodies[f"/catalogue/datasets/{dataset['id']}"])
    assert entry["aggregates"]["subjects"] == 7 and entry["aggregates"]["studies"] == 7
    assert "selection" not in entry and "author" not in entry and "job" not in entry
    # Ages 30 to 72: the public range is widened to 5-year bands, so no one's exact age shows.
    assert entry["aggregates"]["ageYears"] == {
        "min": 30, "max": 74, "suppressed": False, "unknownSubjects": 0, "unknownStudies": 0,
    }  # fmt: skip
    pet = next(r for r in entry["aggregates"]["modality"] if r["code"] == "PT")
    assert pet["subjects"] == "<5"
    # The catalogue lists only published datasets; a draft is not there.
    create_dataset(url, seeded_node.ingester_token, name="Draft only")
    listed = httpx.get(f"{url}/catalogue/datasets").json()
    assert [d["id"] for d in listed] == [dataset["id"]]
    assert httpx.get(f"{url}/datasets", headers=auth(seeded_node.ingester_token)).status_code == 200


def test_no_anonymous_endpoint_lets_a_small_count_be_subtracted_out(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    """7 women and 2 men, 9 subjects in public: "<5" men alone would be 9 - 7; the 7 is hidden too."""
    url = seeded_node.url
    studies = [
        StudySpec(f"EUCAIM-SUB{n:04d}", sex="F" if n < 7 else "M", age=None if n == 8 else f"{41 + n:03d}Y")
        for n in range(9)
    ]
    studies[0].series = (("CT", "CHEST", "SIEMENS", 1), ("PT", "CHEST", "SIEMENS", 1))  # 10 series, 1 PET
    upload(seeded_node, tmp_path, studies)
    dataset = create_dataset(url, seeded_node.ingester_token, metadata=COMPLETE_METADATA)
    assert post_action(url, seeded_node.ingester_token, dataset["id"], "release").status_code == 200
    assert post_action(url, seeded_node.validator_token, dataset["id"], "publish").status_code == 200
    # The holder's and the validator's views stay exact: the protection is for the public only.
    for token in (seeded_node.ingester_token, seeded_node.validator_token):
        exact = httpx.get(f"{url}/datasets/{dataset['id']}", headers=auth(token)).json()["aggregates"]
        assert {r["label"]: r["subjects"] for r in exact["sex"]} == {"Female": 7, "Male": 2}
    entry = httpx.get(f"{url}/catalogue/datasets/{dataset['id']}").json()
    public = entry["aggregates"]
    assert public["subjects"] == 9 and public["series"] == 10
    assert {r["label"]: r["subjects"] for r in public["sex"]} == {"Female": ">=5", "Male": "<5"}
    assert {r["code"]: r["series"] for r in public["modality"]} == {"CT": ">=5", "PT": "<5"}
    assert pinned_cells(exact, public, threshold=5) == []
    listed = httpx.get(f"{url}/catalogue/datasets").json()
    assert [d["aggregates"] for d in listed] == [public]
    # Beacon's counts come from the same public view: the same cells are hidden there.
    beacon = httpx.get(f"{url}/catalogue/datasets/{dataset['id']}/beacon").json()
    assert {t["label"]: t["count"] for t in beacon["gender"]} == {"Female": ">=5", "Male": "<5"}
    # The public page draws the hidden cell as a hatched bar labelled ">=5", never 7.
    page = httpx.get(f"{url}/portal/datasets/{dataset['id']}")
    assert page.status_code == 200
    sex_chart = page.text[page.text.index('data-chart="sex"') :].split("</figure>")[0]
    assert "Female: &gt;=5" in sex_chart and ">7<" not in sex_chart
