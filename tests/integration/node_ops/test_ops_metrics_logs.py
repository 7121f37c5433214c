"""Operators' view of a running node: /metrics counts a STOW, JSON logs carry request ids and no PHI."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import httpx
import pytest

from eucaim.node.observability.logging import JsonFormatter
from tests.support.node_server import SeededNode, deidentified_instance, running_node, stow_body

PLANTED_PATIENT_ID = "PHI-PLANTED-7731"


def _metric(text: str, name: str, **labels: str) -> float:
    """Return the value of one sample of the Prometheus exposition ``text`` (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _stow(seeded: SeededNode, files: list[Path], **headers: str) -> httpx.Response:
    content_type, body = stow_body(list(files))
    return httpx.post(
        f"{seeded.dicomweb_url}/studies",
        content=body,
        headers={"Authorization": f"Bearer {seeded.ingester_token}", "Content-Type": content_type, **headers},
    )


def test_metrics_need_the_metrics_token_or_an_admin(seeded_node: SeededNode) -> None:
    url = f"{seeded_node.url}/metrics"
    assert httpx.get(url).status_code == 401
    ingester = httpx.get(url, headers={"Authorization": f"Bearer {seeded_node.ingester_token}"})
    assert ingester.status_code == 403
    admin = httpx.get(url, headers={"Authorization": f"Bearer {seeded_node.admin_token}"})
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/plain")


def test_metrics_token_from_settings_opens_metrics(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", metrics_token="scrape-secret-123") as node:
        assert httpx.get(f"{node.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(f"{node.url}/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
        assert ok.status_code == 200
        assert "eucaim_node_http_requests_total" in ok.text


def test_a_stow_is_counted_by_route_template_with_instances_and_bytes(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    files = [tmp_path / f"{i}.dcm" for i in range(3)]
    for i, path in enumerate(files):
        deidentified_instance(path, instance_number=i + 1)
    original = tmp_path / "original.dcm"
    deidentified_instance(original, identity_removed=None)  # refused: not marked de-identified
    response = _stow(seeded_node, [*files, original])
    assert response.status_code == 202
    sent_bytes = int(response.request.headers["content-length"])
    qido = httpx.get(
        f"{seeded_node.dicomweb_url}/studies",
        headers={"Authorization": f"Bearer {seeded_node.ingester_token}"},
    )
    assert qido.status_code == 200

    text = httpx.get(
        f"{seeded_node.url}/metrics", headers={"Authorization": f"Bearer {seeded_node.admin_token}"}
    ).text
    stow_route = "/biobanks/{code}/dicom-web/studies"
    assert _metric(text, "eucaim_node_stow_instances_total", outcome="stored") == 3
    assert _metric(text, "eucaim_node_stow_instances_total", outcome="failed") == 1
    assert _metric(text, "eucaim_node_stow_bytes_total") == sent_bytes
    assert (
        _metric(text, "eucaim_node_http_requests_total", method="POST", route=stow_route, status="202") == 1
    )
    assert _metric(text, "eucaim_node_http_requests_total", method="GET", route=stow_route, status="200") == 1
    assert (
        _metric(text, "eucaim_node_http_request_duration_seconds_count", method="POST", route=stow_route) == 1
    )
    # No concrete path (UIDs, biobank codes) becomes a label.
    assert "test-bb" not in text
    assert 'eucaim_node_jobs{kind="dataset-creation",status="finished"} 0.0' in text


def test_json_logs_carry_the_request_id_and_no_planted_phi(
    seeded_node: SeededNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "planted.dcm"
    deidentified_instance(path, patient_id=PLANTED_PATIENT_ID, PatientName="Doe^Planted^PHI")
    with caplog.at_level(logging.DEBUG):
        stored = _stow(seeded_node, [path], **{"X-Request-ID": "trace-abc.123"})
        searched = httpx.get(
            f"{seeded_node.dicomweb_url}/studies",
            params={"PatientID": PLANTED_PATIENT_ID},
            headers={"Authorization": f"Bearer {seeded_node.ingester_token}"},
        )
        unsafe = httpx.get(f"{seeded_node.url}/health", headers={"X-Request-ID": "a b" + "c" * 80})
    assert stored.status_code == 200
    assert stored.headers["x-request-id"] == "trace-abc.123"
    assert searched.status_code == 200 and len(searched.json()) == 1
    generated = searched.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])  # replaced, not echoed

    # The node's own lines (and its server's); the test's HTTP client logs the URLs it asked for.
    records = [r for r in caplog.records if r.name.startswith(("eucaim", "uvicorn", "sqlalchemy"))]
    assert records
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in records]
    access = [line for line in lines if line["logger"] == "eucaim.node.access"]
    by_id = {line.get("request_id"): line for line in access}
    assert by_id["trace-abc.123"]["message"] == "POST /biobanks/{code}/dicom-web/studies 200"
    assert by_id[generated]["status"] == 200
    everything = "\n".join(formatter.format(record) for record in records)
    assert PLANTED_PATIENT_ID not in everything
    assert "Planted" not in everything


@pytest.mark.filesystem_store  # S3 and PACS: tests/integration/node_stores/test_store_readiness.py
def test_readiness_fails_when_the_store_is_unreachable(tmp_path: Path) -> None:
    with running_node(tmp_path / "node") as node:
        assert httpx.get(f"{node.url}/health/ready").json()["status"] == "ready"
        # The store's volume goes away (unmounted, replaced): nothing can be written there.
        shutil.rmtree(node.store_dir)
        node.store_dir.write_text("not a folder")
        response = httpx.get(f"{node.url}/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["database"] == "ok"
        assert body["store"].startswith("failing")
