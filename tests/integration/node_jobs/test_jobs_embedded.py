"""On embedded SQLite, node jobs run in the node's own process and resume there after a crash."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from eucaim.node.db import session_scope
from eucaim.node.jobs.models import NodeJob
from tests.support.node_server import deidentified_instance, running_node, stow_body


def test_an_aggregation_left_running_by_a_crash_is_resumed_by_the_next_request(tmp_path: Path) -> None:
    with running_node(tmp_path / "node") as node:
        token = node.add_user("holder", "data-ingester")
        admin = node.add_user("admin", "admin")
        node.create_biobank("bb", managers=["holder"])
        files = [tmp_path / f"{n}.dcm" for n in range(2)]
        for n, path in enumerate(files):
            deidentified_instance(path, patient_id=f"EUCAIM-{n}")
        content_type, body = stow_body(files)
        headers = node.auth(token)
        stored = httpx.post(
            f"{node.dicomweb_url('bb')}/studies",
            content=body,
            headers=headers | {"Content-Type": content_type},
        )
        assert stored.status_code == 200, stored.text
        created = httpx.post(
            f"{node.url}/datasets", json={"name": "embedded", "biobank": "bb"}, headers=headers
        )
        assert created.status_code == 202, created.text
        dataset_id = created.json()["id"]
        deadline = time.monotonic() + 30
        while (
            httpx.get(f"{node.url}/datasets/{dataset_id}/job", headers=headers).json()["status"] != "finished"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # What a node killed mid-aggregation leaves: the job's row says running, nobody runs it.
        crashed = str(uuid.uuid4())
        with session_scope(node.context.sessions) as session:
            session.add(
                NodeJob(
                    id=crashed,
                    kind="aggregate",
                    subject=dataset_id,
                    status="running",
                    progress=0.1,
                    message="computing aggregates",
                    state={},
                    requested_by="holder",
                    attempts=1,
                    created_at=datetime.now(UTC),
                    started_at=datetime.now(UTC),
                )
            )
        again = httpx.post(f"{node.url}/datasets/{dataset_id}/aggregate", headers=headers, timeout=60)
        assert again.status_code == 200, again.text
        assert again.json()["aggregates"]["subjects"] == 2
        job: dict[str, Any] = httpx.get(f"{node.url}/jobs/{crashed}", headers=headers).json()
        assert (job["status"], job["attempts"], job["message"]) == ("finished", 2, "aggregates computed")
        listed = httpx.get(f"{node.url}/jobs", headers=node.auth(admin)).json()
        assert [j["id"] for j in listed] == [crashed]  # the request joined the open job, made no other
        assert httpx.get(f"{node.url}/jobs", headers=headers).status_code == 403
        assert httpx.get(f"{node.url}/jobs/{uuid.uuid4()}", headers=node.auth(admin)).status_code == 404
