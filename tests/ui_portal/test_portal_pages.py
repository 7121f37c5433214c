"""The portal over plain HTTP: session cookie and CSRF rules, what anonymous pages show, errors as pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from eucaim.node.db import session_scope
from eucaim.node.services.tokens import list_tokens, revoke_token
from tests.support.node_server import running_node
from tests.ui_portal.conftest import PortalWorld

pytestmark = pytest.mark.integration


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def _sign_in(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get("/portal/login")
    return client.post("/portal/login", data={"token": token, "csrf": _csrf(form.text), "next": "/portal/me"})


def test_sign_in_sets_a_sealed_httponly_lax_cookie_and_the_home_page_shows_uploads(
    world: PortalWorld,
) -> None:
    with httpx.Client(base_url=world.url) as client:
        response = _sign_in(client, world.seeded.ingester_token)
        assert response.status_code == 303
        cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v)
        # Lax, not Strict: the OIDC sign-in comes back through the issuer's cross-site redirect.
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert world.seeded.ingester_token not in cookie  # sealed, not the token itself
        home = client.get("/portal/me")
    assert home.status_code == 200
    assert "Signed in as ingester (data-ingester)" in home.text
    assert "test-bb" in home.text and world.dataset_name in home.text
    assert ">9<" in home.text  # 9 studies received into test-bb


def test_a_form_without_the_right_csrf_token_is_refused(world: PortalWorld) -> None:
    with httpx.Client(base_url=world.url) as client:
        refused = client.post("/portal/login", data={"token": world.seeded.validator_token, "csrf": "forged"})
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
        assert _sign_in(client, world.seeded.validator_token).status_code == 303
        forged = client.post(f"/portal/my/datasets/{world.dataset_id}/publish", data={"csrf": "forged"})
        assert forged.status_code == 403
        page = client.get(f"/portal/my/datasets/{world.dataset_id}")
    assert "Released" in page.text  # nothing was published by the forged form


def test_a_wrong_token_is_named_next_to_the_field(world: PortalWorld) -> None:
    with httpx.Client(base_url=world.url) as client:
        response = _sign_in(client, "eucaim_not-a-token")
    assert response.status_code == 401
    assert re.search(r'<p class="error" id="token-error" role="alert">unknown API token</p>', response.text)
    assert 'aria-invalid="true"' in response.text


def test_a_revoked_token_ends_the_session(world: PortalWorld) -> None:
    node = world.seeded.node
    token = node.add_user("temp", "validator")
    with httpx.Client(base_url=world.url) as client:
        assert _sign_in(client, token).status_code == 303
        assert client.get("/portal/review").status_code == 200
        with session_scope(node.context.sessions) as session:
            token_id = next(t.id for t in list_tokens(session, user_name="temp"))
            revoke_token(session, token_id=token_id, now=datetime.now(UTC))
        ended = client.get("/portal/review")
        assert ended.status_code == 303 and ended.headers["location"] == "/portal/login?ended=revoked"
        login = client.get(ended.headers["location"])
    assert "Your session ended: its API token was revoked." in login.text
    assert "eucaim_portal_session" not in client.cookies


def test_pages_for_other_roles_say_so(world: PortalWorld) -> None:
    with httpx.Client(base_url=world.url) as client:
        assert client.get("/portal/review").headers["location"] == "/portal/login?next=/portal/review"
        _sign_in(client, world.seeded.outsider_token)
        queue = client.get("/portal/review")
        assert queue.status_code == 403 and "for validator and admin users" in queue.text
        other = client.get(f"/portal/my/datasets/{world.dataset_id}")
        assert other.status_code == 403 and "may not see dataset" in other.text


def test_anonymous_pages_show_aggregates_only(world: PortalWorld) -> None:
    headers = {"Authorization": f"Bearer {world.seeded.validator_token}"}
    assert httpx.post(f"{world.url}/datasets/{world.dataset_id}/publish", headers=headers).status_code == 200
    with httpx.Client(base_url=world.url) as client:
        pages = [
            client.get(p)
            for p in ("/portal/", f"/portal/datasets/{world.dataset_id}", "/portal/?modality=CT")
        ]
    for page in pages:
        assert page.status_code == 200
        leaked = [s for s in world.secrets if s in page.text]
        assert leaked == [], f"{page.url} shows identifiers: {leaked[:3]}"
    detail = pages[1].text
    assert world.dataset_name in detail and "<svg" in detail
    assert "&lt;5" in detail  # two MR studies: suppressed, never the exact 2
    assert 'href="/catalogue/datasets/' in detail and "dcat.ttl" in detail


def test_catalogue_filters_use_the_aggregated_fields(world: PortalWorld) -> None:
    headers = {"Authorization": f"Bearer {world.seeded.validator_token}"}
    httpx.post(f"{world.url}/datasets/{world.dataset_id}/publish", headers=headers)
    with httpx.Client(base_url=world.url) as client:
        ct = client.get("/portal/", params={"modality": "CT"})
        us = client.get("/portal/", params={"modality": "US"})
        bad = client.get("/portal/", params={"minAge": "forty"})
        old = client.get("/portal/", params={"minAge": "90"})
    assert world.dataset_name in ct.text and "1 dataset(s)" in ct.text
    assert "0 dataset(s)" in us.text
    assert 'id="minAge-error"' in bad.text and "Enter a number." in bad.text
    assert "0 dataset(s)" in old.text


def test_unknown_dataset_is_a_not_found_page(world: PortalWorld) -> None:
    response = httpx.get(f"{world.url}/portal/datasets/no-such-id")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"] and "no published dataset" in response.text


def test_behind_an_https_proxy_the_session_cookie_is_secure(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", public_url="https://node.example.org") as node:
        token = node.add_user("vera", "validator")
        with httpx.Client(base_url=node.url) as client:
            csrf = _csrf(client.get("/portal/login").text)
            # A Secure cookie is not sent back over this test's plain HTTP; a browser on HTTPS would.
            response = client.post(
                "/portal/login",
                data={"token": token, "csrf": csrf},
                headers={"Cookie": f"eucaim_portal_csrf={csrf}"},
            )
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v)
    assert "Secure" in cookie


def test_recompute_statistics_goes_through_the_dataset_service(world: PortalWorld) -> None:
    with httpx.Client(base_url=world.url) as client:
        _sign_in(client, world.seeded.validator_token)
        page = client.get(f"/portal/review/{world.dataset_id}")
        done = client.post(
            f"/portal/my/datasets/{world.dataset_id}/aggregate", data={"csrf": _csrf(page.text)}
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=aggregate")
        after = client.get(done.headers["location"])
        unknown = client.post(
            f"/portal/my/datasets/{world.dataset_id}/explode", data={"csrf": _csrf(page.text)}
        )
    assert "Done: Recompute statistics." in after.text
    assert "<td>aggregate</td>" in after.text  # the audit entry the service wrote
    assert unknown.status_code == 404 and "unknown action" in unknown.text
