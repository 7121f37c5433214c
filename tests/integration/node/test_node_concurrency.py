"""Concurrent STOWs of the same instances: every request succeeds and each instance is stored once."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from eucaim.dicomweb.store_response import parse_store_response
from eucaim.node.models import Instance, Series, Study
from tests.support.node_server import SeededNode, deidentified_instance, stow_body


def test_same_study_sent_by_four_clients_at_once(seeded_node: SeededNode, tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    files = [tmp_path / f"{n}.dcm" for n in range(6)]
    for n, f in enumerate(files):
        deidentified_instance(f, study_uid=study, series_uid=series, instance_number=n)

    def send(order: int) -> httpx.Response:
        # Each client sends the instances in another order, so inserts interleave.
        ordered = files[order:] + files[:order]
        content_type, body = stow_body(list(ordered))
        return httpx.post(
            f"{seeded_node.dicomweb_url}/studies/{study}",
            content=body,
            headers={"Authorization": f"Bearer {seeded_node.ingester_token}", "Content-Type": content_type},
            timeout=60,
        )

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(send, range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert all(len(parse_store_response(r.json()).stored) == 6 for r in responses)
    with seeded_node.node.context.sessions() as session:
        counts = [session.scalar(select(func.count()).select_from(m)) for m in (Study, Series, Instance)]
    assert counts == [1, 1, 6]
    # Each instance written once, under the key and with the bytes its index row names.
    with seeded_node.node.context.sessions() as session:
        rows = {row.storage_key: row.sha256 for row in session.scalars(select(Instance))}
    stored = seeded_node.node.stored_objects()
    assert {key: obj.sha256 for key, obj in stored.items()} == rows
    assert seeded_node.node.leftovers() == []  # no half-written object


def test_refusals_do_not_log_identifying_values(
    seeded_node: SeededNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    phi = {"patient_id": "PHI-ID-778899", "PatientName": "Doe^Jane^PHI", "AccessionNumber": "ACC-PHI-42"}
    ds = deidentified_instance(tmp_path / "phi.dcm", identity_removed=None, **phi)  # type: ignore[arg-type]
    content_type, body = stow_body([tmp_path / "phi.dcm", b"garbage part"])
    with caplog.at_level(logging.DEBUG):
        response = httpx.post(
            f"{seeded_node.dicomweb_url}/studies",
            content=body,
            headers={"Authorization": f"Bearer {seeded_node.ingester_token}", "Content-Type": content_type},
        )
    assert response.status_code == 409
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "STOW into biobank test-bb" in logged  # the node did log this request
    for secret in (*phi.values(), ds.SOPInstanceUID, ds.StudyInstanceUID):
        assert secret not in logged
