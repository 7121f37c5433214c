"""The audit log: the database refuses edits; past that, the hash chain detects any edit or deletion."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

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
    # The database refuses edits and deletions outright...
    sessions = seeded_node.node.context.sessions
    for statement in (update(AuditEntry).values(actor="x"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"), session_scope(sessions) as session:
            session.execute(statement)
    # ...so someone with the rights to drop its triggers rewrites who released the dataset.
    with session_scope(sessions) as session:
        on_table = " ON audit_log" if session.get_bind().dialect.name == "postgresql" else ""
        for verb in ("update", "delete"):
            session.execute(text(f"DROP TRIGGER audit_log_no_{verb}{on_table}"))
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
