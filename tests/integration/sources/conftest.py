"""Fixtures for the PACS-source tests: small synthetic studies (Orthanc comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.integration.sources.studies import StudyFactory, StudyFiles, write_instance


@pytest.fixture
def make_study(tmp_path: Path) -> StudyFactory:
    """Return a function writing a one-series study of ``count`` instances under tmp_path."""
    counter = iter(range(1_000_000))

    def make(
        *,
        patient_id: str = "PAT001",
        accession: str = "ACC001",
        study_date: str = "20240115",
        modality: str = "CT",
        count: int = 3,
        rows: int = 8,
    ) -> StudyFiles:
        folder = tmp_path / f"study{next(counter)}"
        folder.mkdir()
        study_uid, series_uid = str(generate_uid()), str(generate_uid())
        paths, uids = [], []
        for number in range(1, count + 1):
            path = folder / f"{number:04d}.dcm"
            uids.append(
                write_instance(
                    path,
                    patient_id=patient_id,
                    accession=accession,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    study_date=study_date,
                    modality=modality,
                    number=number,
                    rows=rows,
                )
            )
            paths.append(path)
        return StudyFiles(study_uid, patient_id, accession, paths, uids)

    return make
