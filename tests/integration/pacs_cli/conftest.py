"""Fixtures for the PACS command tests: a workspace pointed at the test Orthanc, and studies on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from eucaim.ingest.cli.app import console
from eucaim.ingest.config import NodeConfig, PacsSettings, load_config, save_config
from eucaim.ingest.workspace import Workspace
from tests.integration.sources.studies import write_instance
from tests.support.orthanc import OrthancServer


@dataclass(frozen=True)
class PacsStudy:
    """A study uploaded to Orthanc."""

    study_uid: str
    patient_id: str
    accession: str
    sop_uids: list[str]


def upload_study(
    orthanc: OrthancServer,
    folder: Path,
    *,
    patient_id: str,
    accession: str,
    study_date: str,
    modality: str = "CT",
    count: int = 2,
) -> PacsStudy:
    """Write a one-series study under ``folder`` and store it on Orthanc."""
    folder.mkdir(parents=True)
    study_uid, series_uid = str(generate_uid()), str(generate_uid())
    uids = [
        write_instance(
            folder / f"{n:03d}.dcm",
            patient_id=patient_id,
            accession=accession,
            study_uid=study_uid,
            series_uid=series_uid,
            study_date=study_date,
            modality=modality,
            number=n,
        )
        for n in range(1, count + 1)
    ]
    orthanc.upload(sorted(folder.iterdir()))
    return PacsStudy(study_uid, patient_id, accession, uids)


@pytest.fixture
def studies(orthanc_clean: OrthancServer, tmp_path: Path) -> dict[str, PacsStudy]:
    """Three studies of two patients on a freshly emptied Orthanc."""
    src = tmp_path / "pacs-src"
    return {
        "ct_jan": upload_study(orthanc_clean, src / "a", patient_id="PAT1", accession="ACC1",
                               study_date="20240115", count=3),
        "mr_mar": upload_study(orthanc_clean, src / "b", patient_id="PAT1", accession="ACC2",
                               study_date="20240310", modality="MR", count=2),
        "ct_jun": upload_study(orthanc_clean, src / "c", patient_id="PAT2", accession="ACC3",
                               study_date="20240620", count=2),
    }  # fmt: skip


def make_workspace(path: Path, orthanc: OrthancServer, *, node_url: str = "http://127.0.0.1:9",
                   biobank: str = "test-bb", token: str = "unused") -> Path:  # fmt: skip
    """Create a workspace whose [pacs] section points at ``orthanc`` as its registered modality."""
    with Workspace.create(path, NodeConfig(url=node_url, biobank=biobank), token=token):
        pass
    config = load_config(path)
    config.pacs = PacsSettings(
        host=orthanc.host,
        port=orthanc.dicom_port,
        called_aet=orthanc.aet,
        calling_aet=orthanc.receiver_aet,
        receiver_port=orthanc.receiver_port,
        timeout_s=10.0,
    )
    save_config(path, config)
    return path


@pytest.fixture
def pacs_ws(orthanc: OrthancServer, tmp_path: Path) -> Path:
    """A workspace configured for the test Orthanc (the node URL is never contacted)."""
    return make_workspace(tmp_path / "ws", orthanc)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Tables fold long UIDs at 80 columns; a wide console keeps each on one line.
    monkeypatch.setattr(console, "width", 300)
    monkeypatch.delenv("EUCAIM_INGEST_WORKSPACE", raising=False)
    yield
