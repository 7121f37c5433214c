"""Helpers for the dataset tests: upload known studies over STOW, create datasets, wait for jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.support.node_server import (
    SeededNode,
    deidentified_instance,
    running_node,
    seed_node,
    stow_body,
)

COMPLETE_METADATA: dict[str, Any] = {
    "version": "1.0",
    "purpose": "Training and validating lung nodule detection",
    "type": ["original"],
    "collectionMethod": ["cohort"],
    "provenance": "Hospital X radiology, 2019-2021, de-identified with eucaim-ingest",
    "license": {"title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    "contact": {"name": "Data Office", "email": "data@hospital.example"},
    "keywords": ["lung", "CT"],
    "cancerCondition": "Lung cancer",
    "interoperabilityTier": "tier 1",
}


@dataclass
class StudySpec:
    """One study to upload: its subject, values, and the series (modality, body part, maker, files)."""

    patient_id: str
    sex: str | None = "F"
    age: str | None = "054Y"
    date: str = "20200101"
    series: Sequence[tuple[str, str | None, str | None, int]] = (("CT", "CHEST", "SIEMENS", 1),)
    study_uid: str = field(default_factory=generate_uid)
    series_uids: list[str] = field(default_factory=list)


def upload(
    seeded: SeededNode, tmp_path: Path, studies: Sequence[StudySpec], *, biobank: str = "test-bb"
) -> None:
    """Write and STOW the studies into ``biobank`` as its manager (asserting every instance stored)."""
    files: list[Path] = []
    for study in studies:
        for s_index, (modality, body_part, maker, count) in enumerate(study.series):
            series_uid = generate_uid()
            study.series_uids.append(series_uid)
            for n in range(count):
                attrs: dict[str, Any] = {}
                if body_part is not None:
                    attrs["BodyPartExamined"] = body_part
                if maker is not None:
                    attrs["Manufacturer"] = maker
                path = tmp_path / "upload" / f"{study.study_uid}-{s_index}-{n}.dcm"
                ds = deidentified_instance(
                    path,
                    study_uid=study.study_uid,
                    series_uid=series_uid,
                    modality=modality,
                    patient_id=study.patient_id,
                    study_date=study.date,
                    instance_number=n + 1,
                    **attrs,
                )
                if study.sex is None:
                    del ds.PatientSex
                else:
                    ds.PatientSex = study.sex
                if study.age is None:
                    del ds.PatientAge
                else:
                    ds.PatientAge = study.age
                ds.save_as(path, enforce_file_format=True)
                files.append(path)
    token = seeded.ingester_token if biobank == "test-bb" else seeded.outsider_token
    content_type, body = stow_body(files)
    response = httpx.post(
        f"{seeded.node.dicomweb_url(biobank)}/studies",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def auth(token: str) -> dict[str, str]:
    """Return the Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def wait_for_job(url: str, token: str, dataset_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the creation job until it ends; return its last status."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = httpx.get(f"{url}/datasets/{dataset_id}/job", headers=auth(token)).json()
        if job["status"] in ("finished", "error") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def create_dataset(
    url: str,
    token: str,
    *,
    selection: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str = "Lung CT cohort",
    biobank: str = "test-bb",
) -> dict[str, Any]:
    """Create a dataset, wait for its job, and return it (asserting it is a ready draft)."""
    body = {"name": name, "description": "Chest CT of lung cancer patients", "biobank": biobank}
    body["selection"] = selection or {"kind": "biobank"}
    body.update(metadata or {})
    response = httpx.post(f"{url}/datasets", json=body, headers=auth(token))
    assert response.status_code == 202, response.text
    dataset_id = response.json()["id"]
    job = wait_for_job(url, token, dataset_id)
    assert job["status"] == "finished", job
    dataset: dict[str, Any] = httpx.get(f"{url}/datasets/{dataset_id}", headers=auth(token)).json()
    assert dataset["state"] == "draft"
    return dataset


def post_action(
    url: str, token: str, dataset_id: str, action: str, reason: str | None = None
) -> httpx.Response:
    """POST a lifecycle action with an optional reason."""
    body = {"reason": reason} if reason is not None else None
    return httpx.post(f"{url}/datasets/{dataset_id}/{action}", json=body, headers=auth(token))


@pytest.fixture(params=["sqlite", "postgresql"])
def both_db_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeededNode]:
    """A seeded node on SQLite, then on a fresh PostgreSQL database."""
    url = request.getfixturevalue("postgres_database") if request.param == "postgresql" else None
    with running_node(tmp_path / "node-data", database_url=url) as node:
        yield seed_node(node)
