"""Who may do what on the node: 401 without a valid token, 403 without rights, 404 for unknown biobanks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from eucaim.node.db import session_scope
from eucaim.node.models import ApiToken
from eucaim.node.services.accounts import hash_token
from tests.support.node_server import SeededNode, deidentified_instance, stow_body


def _studies(seeded: SeededNode, token: str | None, biobank: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{seeded.node.dicomweb_url(biobank or seeded.biobank)}/studies", headers=headers)


def _stow(seeded: SeededNode, token: str, tmp_path: Path) -> httpx.Response:
    content_type, body = stow_body([tmp_path / "i.dcm"])
    return httpx.post(
        f"{seeded.dicomweb_url}/studies",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )


def test_no_token_is_401_with_bearer_challenge_and_problem_body(seeded_node: SeededNode) -> None:
    response = _studies(seeded_node, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="eucaim-node"'  # no error: none sent
    assert response.headers["content-type"] == "application/problem+json"
    assert "Authorization: Bearer" in response.json()["hint"]


def test_unknown_token_is_401_invalid_token(seeded_node: SeededNode) -> None:
    response = _studies(seeded_node, "eucaim_not-a-real-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_basic_auth_is_not_a_bearer_token(seeded_node: SeededNode) -> None:
    response = httpx.get(f"{seeded_node.dicomweb_url}/studies", auth=("ingester", "secret"))
    assert response.status_code == 401


def test_expired_and_revoked_tokens_are_refused(seeded_node: SeededNode) -> None:
    node = seeded_node.node
    expired = node.add_user("late", "validator")
    revoked = node.add_user("gone", "validator")
    now = datetime.now(UTC)
    with session_scope(node.context.sessions) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(expired))
            .values(expires_at=now - timedelta(seconds=1))
        )
        session.execute(
            update(ApiToken).where(ApiToken.token_hash == hash_token(revoked)).values(revoked_at=now)
        )
    assert _studies(seeded_node, expired).json()["detail"] == "API token has expired"
    assert _studies(seeded_node, revoked).json()["detail"] == "API token was revoked"


def test_unknown_biobank_is_404_after_authentication(seeded_node: SeededNode) -> None:
    assert _studies(seeded_node, seeded_node.admin_token, "no-such-bb").status_code == 404
    # Without a token the caller learns nothing about which biobanks exist.
    assert _studies(seeded_node, None, "no-such-bb").status_code == 401


@pytest.mark.parametrize(
    ("who", "can_read"),
    [("ingester", True), ("outsider", False), ("validator", True), ("admin", True)],
)
def test_read_rights(seeded_node: SeededNode, who: str, can_read: bool) -> None:
    token = getattr(seeded_node, f"{who}_token")
    response = _studies(seeded_node, token)
    assert response.status_code == (200 if can_read else 403)
    if not can_read:
        assert "may not read biobank 'test-bb'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("who", "can_write"),
    [("ingester", True), ("outsider", False), ("validator", False), ("admin", True)],
)
def test_write_rights(seeded_node: SeededNode, tmp_path: Path, who: str, can_write: bool) -> None:
    deidentified_instance(tmp_path / "i.dcm")
    response = _stow(seeded_node, getattr(seeded_node, f"{who}_token"), tmp_path)
    assert response.status_code == (200 if can_write else 403)
    assert len(seeded_node.node.stored_objects()) == (1 if can_write else 0)


def test_health_needs_no_token_and_reports_dependencies(seeded_node: SeededNode) -> None:
    response = httpx.get(f"{seeded_node.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "store": "ok"}


def test_openapi_lists_the_dicomweb_routes(seeded_node: SeededNode) -> None:
    paths = httpx.get(f"{seeded_node.url}/openapi.json").json()["paths"]
    root = "/biobanks/{code}/dicom-web"
    for path in (
        "/studies",
        "/studies/{study}",
        "/studies/{study}/series",
        "/studies/{study}/series/{series}/instances",
        "/studies/{study}/series/{series}/instances/{instance}",
        "/studies/{study}/metadata",
    ):
        assert root + path in paths
    assert "post" in paths[root + "/studies"]
