"""The clinical push use case on a real node and the XNAT emulator: chunks, progress, idempotence, errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from eucaim.clinical.intake import check_file
from eucaim.deid.pseudonym import derive_patient_pseudonym
from eucaim.dicom.synthetic import generate_cohort
from eucaim.errors import AuthenticationError, ClinicalDataError, UploadError
from eucaim.ingest.clinical_push import push_clinical
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.upload.xnat_clinical import HASH_FIELD
from eucaim.ingest.workspace import Workspace
from tests.support.xnat_fixture import XnatServer

from .conftest import ClinicalNode

pytestmark = pytest.mark.integration


def _workspace(path: Path, node: NodeConfig, token: str) -> Workspace:
    return Workspace.create(path, node, token=token)


def test_push_sends_in_chunks_once_and_reports(clinical_node: ClinicalNode, tmp_path: Path) -> None:
    clinical_node.configure(allow_clinical_only=True)  # this test pushes clinical data without images
    seeded = clinical_node.seeded
    cohort = generate_cohort(tmp_path / "cohort", patients=5, slices=(1, 1))
    result = check_file(cohort.clinical_csv, today=date.today())
    node = NodeConfig(url=seeded.url, biobank="test-bb")
    with _workspace(tmp_path / "ws", node, seeded.ingester_token) as ws:
        calls: list[tuple[int, int]] = []
        summary = push_clinical(ws, result, chunk_size=2, on_progress=lambda d, t: calls.append((d, t)))
        assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]
        assert summary.ok and summary.counts["created"] == 5 and summary.sent == 5
        assert [o.row for o in summary.outcomes] == [2, 3, 4, 5, 6]
        first = derive_patient_pseudonym(ws.secret, cohort.patients[0].patient_id)
        assert summary.outcomes[0].subject == first and summary.outcomes[0].version == 1
        assert summary.report_json is not None and summary.report_json.parent == ws.reports
        assert summary.report_csv is not None and "created" in summary.report_csv.read_text()

        again = push_clinical(ws, result)
        assert again.nothing_sent and again.counts["unchanged"] == 5

        days = push_clinical(ws, result, baseline=["date_radiological_detection", "acquisition_date"])
        assert days.counts["updated"] == 5
        stored = clinical_node.get(first).json()["record"]
        assert stored["dates"].startswith("days-from:") and isinstance(
            stored["fields"].get("date_first_treatment", 0), int
        )

    bad = tmp_path / "bad.csv"
    bad.write_text(cohort.clinical_csv.read_text().replace(",case,", ",kase,", 1))
    cases: list[tuple[str, NodeConfig, str, type[Exception], str]] = [
        ("ws", node, seeded.ingester_token, ClinicalDataError, "nothing will be sent"),
        ("ws-wrong", node, "not-a-token", AuthenticationError, "new API token"),
        ("ws-outsider", node, seeded.outsider_token, UploadError, "403"),
        ("ws-missing", NodeConfig(url=seeded.url, biobank="no-such-bb"), seeded.ingester_token, UploadError,
         "does not exist"),
    ]  # fmt: skip
    for folder, config, token, error, message in cases:
        checked = check_file(bad if folder == "ws" else cohort.clinical_csv, today=date.today())
        with _workspace(tmp_path / folder, config, token) as ws, pytest.raises(error, match=message):
            push_clinical(ws, checked)


def test_push_to_an_xnat_workspace_goes_through_xnatpy(xnat_server: XnatServer, tmp_path: Path) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("CLIN_TEST")
    emulator.add_user("uploader", "uploader-password", roles={"CLIN_TEST": "owner"})
    cohort = generate_cohort(tmp_path / "cohort", patients=2, slices=(1, 1))
    result = check_file(cohort.clinical_csv, today=date.today())
    node = NodeConfig(kind="xnat", url=xnat_server.url, biobank="CLIN_TEST", username="uploader")
    with _workspace(tmp_path / "ws", node, "uploader-password") as ws:
        summary = push_clinical(ws, result)
        assert summary.target == "xnat" and summary.counts["created"] == 2 and summary.ok
        for outcome in summary.outcomes:
            subject = emulator.subject("CLIN_TEST", outcome.subject)
            assert subject.custom_fields()[HASH_FIELD] == outcome.content_hash
        again = push_clinical(ws, result)
        assert again.nothing_sent and again.counts["unchanged"] == 2
