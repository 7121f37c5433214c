"""What clinical work needs from a workspace: its secret, pseudonym format and imaging index."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from eucaim.clinical.linkage import ImagingStudy, WorkspaceImaging
from eucaim.ingest.config import CONFIG_NAME
from eucaim.ingest.workspace import Workspace


def _parse_da(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except (ValueError, IndexError):
        return None


def workspace_imaging(path: Path) -> WorkspaceImaging | None:
    """Read a workspace's imaging index for linkage; ``None`` when ``path`` holds no workspace."""
    if not (path / CONFIG_NAME).is_file():
        return None
    with Workspace.open(path) as ws:
        studies = {
            patient: [ImagingStudy(uid, modality, _parse_da(day)) for uid, modality, day in rows]
            for patient, rows in ws.state.patient_studies().items()
        }
        return WorkspaceImaging(
            secret=ws.secret, studies=studies, pseudonym_format=ws.config.deid.pseudonym_format
        )
