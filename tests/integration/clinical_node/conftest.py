"""Fixtures for the node's clinical endpoints: a seeded node whose biobank holds studies for two subjects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from eucaim.node.db import session_scope
from eucaim.node.services.biobanks import get_biobank
from eucaim.node.services.clinical import set_clinical_settings
from tests.support.node_server import RunningNode, SeededNode, deidentified_instance, stow_body

IMAGED = ("EUCAIM-AAAA000000000001", "EUCAIM-AAAA000000000002")
NOT_IMAGED = "EUCAIM-FFFF000000000009"


def record(subject: str, **changes: Any) -> dict[str, Any]:
    """A valid eucaim-minimum 1.0 record of a diagnostic case; ``changes`` replace fields (None drops)."""
    fields: dict[str, Any] = {
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
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return {"subject": subject, "schema": "eucaim-minimum", "schema_version": "1.0", "dates": "shifted",
            "fields": fields}  # fmt: skip


@dataclass
class ClinicalNode:
    """A node, its biobank ``test-bb`` with studies of ``IMAGED``, and helpers to call it."""

    seeded: SeededNode

    @property
    def node(self) -> RunningNode:
        return self.seeded.node

    def url(self, subject: str | None = None, biobank: str = "test-bb") -> str:
        if subject is None:
            return f"{self.node.url}/biobanks/{biobank}/clinical"
        return f"{self.node.url}/biobanks/{biobank}/subjects/{subject}/clinical"

    def put(self, subject: str, body: Any, token: str | None = None) -> httpx.Response:
        headers = RunningNode.auth(token or self.seeded.ingester_token)
        return httpx.put(self.url(subject), json=body, headers=headers, timeout=30)

    def get(self, subject: str | None = None, token: str | None = None, **params: Any) -> httpx.Response:
        headers = RunningNode.auth(token or self.seeded.ingester_token)
        return httpx.get(self.url(subject), params=params, headers=headers, timeout=30)

    def bulk(self, records: list[Any], token: str | None = None) -> httpx.Response:
        headers = RunningNode.auth(token or self.seeded.ingester_token)
        return httpx.post(self.url(), json=records, headers=headers, timeout=60)

    def configure(self, **settings: Any) -> None:
        with session_scope(self.node.context.sessions) as session:
            biobank = get_biobank(session, code="test-bb")
            set_clinical_settings(session, biobank_id=biobank.id, **settings)


def seed_images(seeded: SeededNode, folder: Path) -> None:
    """STOW one de-identified instance per imaged subject into test-bb."""
    files = [deidentified_instance(folder / f"{n}.dcm", patient_id=s) for n, s in enumerate(IMAGED)]
    del files
    content_type, body = stow_body(sorted(folder.glob("*.dcm")))
    response = httpx.post(
        f"{seeded.dicomweb_url}/studies",
        content=body,
        headers=RunningNode.auth(seeded.ingester_token) | {"Content-Type": content_type},
        timeout=30,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def clinical_node(seeded_node: SeededNode, tmp_path: Path) -> ClinicalNode:
    seed_images(seeded_node, tmp_path / "images")
    return ClinicalNode(seeded_node)
