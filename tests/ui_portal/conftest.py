"""Browser tests of the node portal: Debian's Chromium driven by Playwright, a seeded node, axe-core.

Chromium comes from Debian (``apt-get install chromium``), never from ``playwright install``;
axe-core from npm (``npm install axe-core`` at the repository root, git-ignored). Outside CI a
missing one skips the tests that need it, saying why; in CI the suite-wide rule turns a skip into
a failure. Screenshots go to ``tests/ui_portal/artifacts/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset as DicomDataset
from pydicom.uid import generate_uid

from eucaim.node.oidc_settings import OidcSettings
from tests.support.browser import chromium_launch_args
from tests.support.node_server import SeededNode, deidentified_instance, running_node, seed_node, stow_body
from tests.support.oidc_issuer import OidcIssuer, running_issuer

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parent / "artifacts"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium (Playwright's own browsers are never downloaded here)."""
    return chromium_launch_args(browser_type_launch_args)


@pytest.fixture
def axe_script() -> Path:
    """The axe-core script, installed from npm by make test."""
    if not AXE.exists():
        pytest.skip(
            f"axe-core is not installed ({AXE}): run `npm install --no-save axe-core` at the repo root"
        )
    return AXE


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """The folder this test's screenshots go to."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class PortalWorld:
    """A node with uploaded studies and one released dataset, plus what must never be public."""

    seeded: SeededNode
    dataset_id: str
    dataset_name: str
    secrets: list[str] = field(default_factory=list)  # pseudonyms and UIDs

    @property
    def url(self) -> str:
        """Return the node's base URL."""
        return self.seeded.url


# (pseudonym, sex, age, modality, body part, maker, study date)
COHORT = [
    (
        f"EUCAIM-PSN-{n:04d}",
        "F" if n % 2 else "M",
        f"{40 + 3 * n:03d}Y",
        "CT",
        "CHEST",
        "SIEMENS",
        f"20{19 + n % 3}0301",
    )
    for n in range(1, 8)
] + [
    ("EUCAIM-PSN-0100", "F", "061Y", "MR", "HEAD", "Philips Medical Systems", "20210615"),
    ("EUCAIM-PSN-0101", "M", "058Y", "MR", "HEAD", "Philips Medical Systems", "20220110"),
]


def _declared(instance: DicomDataset) -> None:
    code = DicomDataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
        "113100",
        "DCM",
        "Basic Application Confidentiality Profile",
    )
    instance.DeidentificationMethod = "eucaim-ingest EUCAIM profile"
    instance.DeidentificationMethodCodeSequence = [code]


def seed_world(seeded: SeededNode, tmp_path: Path, *, name: str = "Lung CT screening cohort") -> PortalWorld:
    """Upload the cohort over STOW as the ingester, create a dataset of the biobank and release it."""
    files: list[Path] = []
    secrets: list[str] = []
    for n, (pseudonym, sex, age, modality, body_part, maker, date) in enumerate(COHORT):
        study_uid, series_uid, sop_uid = generate_uid(), generate_uid(), generate_uid()
        path = tmp_path / "upload" / f"{n}.dcm"
        ds = deidentified_instance(
            path,
            study_uid=study_uid,
            series_uid=series_uid,
            sop_uid=sop_uid,
            modality=modality,
            patient_id=pseudonym,
            study_date=date,
            BodyPartExamined=body_part,
            Manufacturer=maker,
        )
        ds.PatientSex, ds.PatientAge = sex, age
        _declared(ds)
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
        secrets += [pseudonym, study_uid, series_uid, sop_uid]
    auth = {"Authorization": f"Bearer {seeded.ingester_token}"}
    with httpx.Client(base_url=seeded.url, headers=auth, timeout=30) as client:
        content_type, body = stow_body(files)
        stored = client.post(
            f"/biobanks/{seeded.biobank}/dicom-web/studies",
            content=body,
            headers={"Content-Type": content_type},
        )
        assert stored.status_code == 200, stored.text
        created = client.post(
            "/datasets",
            json={
                "name": name,
                "description": "Low-dose chest CT of a screening cohort.\nSecond line of the description.",
                "biobank": seeded.biobank,
                "selection": {"kind": "biobank"},
                **COMPLETE_METADATA,
            },
        )
        assert created.status_code == 202, created.text
        dataset_id = created.json()["id"]
        deadline = time.monotonic() + 20
        while client.get(f"/datasets/{dataset_id}/job").json()["status"] != "finished":
            assert time.monotonic() < deadline, "dataset creation job did not finish"
            time.sleep(0.05)
        released = client.post(f"/datasets/{dataset_id}/release")
        assert released.status_code == 200, released.text
    return PortalWorld(seeded=seeded, dataset_id=dataset_id, dataset_name=name, secrets=secrets)


@pytest.fixture
def world(seeded_node: SeededNode, tmp_path: Path) -> Iterator[PortalWorld]:
    """A seeded node holding the cohort and one released dataset."""
    yield seed_world(seeded_node, tmp_path)


@dataclass
class OidcWorld:
    """The portal world on a node that trusts a loopback OIDC issuer (client ``eucaim-portal``)."""

    world: PortalWorld
    issuer: OidcIssuer

    @property
    def url(self) -> str:
        """Return the node's base URL."""
        return self.world.url


@pytest.fixture
def oidc_world(tmp_path: Path) -> Iterator[OidcWorld]:
    """A seeded node with one released dataset whose portal offers "Sign in with" the test issuer."""
    with running_issuer(client_id="eucaim-portal", audience="eucaim-node") as issuer:
        oidc = OidcSettings(issuer=issuer.url, client_id=issuer.client_id, audience=issuer.audience)
        with running_node(tmp_path / "node-data", oidc=oidc) as node:
            yield OidcWorld(seed_world(seed_node(node), tmp_path), issuer)
