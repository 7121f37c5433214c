"""The audit log's hash chain: verified when intact, and any edit, deletion or insertion is detected."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import delete, update

from eucaim.node.db import session_scope
from eucaim.node.models_datasets import AuditEntry
from tests.integration.datasets.conftest import (
    COMPLETE_METADATA,
    StudySpec,
    auth,
    create_dataset,
    post_action,
    upload,
)
from tests.support.node_server import SeededNode


def _audit(node: SeededNode) -> dict:
    response = httpx.get(f"{node.url}/audit", headers=auth(node.admin_token))
    assert response.status_code == 200
    return response.json()


def test_tampering_with_the_audit_log_is_detected(seeded_node: SeededNode, tmp_path: Path) -> None:
    upload(seeded_node, tmp_path, [StudySpec("P1")])
    dataset = create_dataset(seeded_node.url, seeded_node.ingester_token, metadata=COMPLETE_METADATA)
    assert (
        post_action(seeded_node.url, seeded_node.ingester_token, dataset["id"], "release").status_code == 200
    )
    intact = _audit(seeded_node)
    assert (intact["verified"], intact["entries"], intact["brokenAt"]) == (True, 3, None)
    assert intact["log"][0]["prevHash"] == "0" * 64
    assert all(e["prevHash"] == p["hash"] for p, e in zip(intact["log"], intact["log"][1:], strict=False))
    # Someone with database access rewrites who released the dataset.
    sessions = seeded_node.node.context.sessions
    with session_scope(sessions) as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="validator"))
    edited = _audit(seeded_node)
    assert (edited["verified"], edited["brokenAt"]) == (False, 3)
    assert edited["problem"] == "its content does not match its hash"
    with session_scope(sessions) as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="ingester"))
    assert _audit(seeded_node)["verified"] is True
    # Removing the middle entry breaks the link of the one after it.
    with session_scope(sessions) as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == 2))
    removed = _audit(seeded_node)
    assert (removed["verified"], removed["brokenAt"], removed["problem"]) == (
        False, 3, "does not point at the entry before it",
    )  # fmt: skip
