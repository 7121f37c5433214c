"""Admins manage users in the portal over HTTP: create, role, biobanks, disable/enable; CSRF and refusals."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.ui_portal.conftest import OidcWorld, PortalWorld

pytestmark = pytest.mark.integration


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def _sign_in(client: httpx.Client, token: str, page: str = "/portal/admin/users") -> str:
    """Sign in with an API token and return the session's CSRF token (read from ``page``)."""
    form = client.get("/portal/login")
    signed = client.post("/portal/login", data={"token": token, "csrf": _csrf(form.text)})
    assert signed.status_code == 303
    return _csrf(client.get(page).text)


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"})


def test_an_admin_creates_a_user_with_role_and_biobanks_and_errors_show_at_their_field(
    world: PortalWorld,
) -> None:
    with httpx.Client(base_url=world.url) as client:
        csrf = _sign_in(client, world.seeded.admin_token)
        created = client.post(
            "/portal/admin/users",
            data={"csrf": csrf, "name": "dora", "role": "data-ingester", "biobank": ["test-bb", "other-bb"]},
        )
        assert created.status_code == 303
        page = client.get(created.headers["location"])
        assert "User dora created. Issue them an API token below." in page.text
        assert re.search(r'<option value="dora" selected>', page.text)  # ready for a first token
        issued = client.post("/portal/admin/tokens", data={"csrf": csrf, "user": "dora", "ttl": "1d"})
        token = re.search(r'id="new-token" class="secret">([^<]+)<', issued.text)
        assert token is not None
        me = _me(world.url, token.group(1)).json()
        assert (me["name"], me["role"], me["biobanks"]) == ("dora", "data-ingester", ["other-bb", "test-bb"])

        again = client.post("/portal/admin/users", data={"csrf": csrf, "name": "dora", "role": "validator"})
        assert again.status_code == 409
        assert (
            '<p class="error" id="new-name-error" role="alert">user &#39;dora&#39; already exists'
            in again.text
        )
        assert 'value="dora"' in again.text  # what was typed stays
        blank = client.post("/portal/admin/users", data={"csrf": csrf, "name": "  ", "role": "validator"})
        assert blank.status_code == 400 and "a user name has 1 to 128 characters" in blank.text
        nobank = client.post(
            "/portal/admin/users", data={"csrf": csrf, "name": "eve", "role": "validator", "biobank": "nope"}
        )
        assert nobank.status_code == 404 and 'id="new-biobanks-error"' in nobank.text
        assert '<option value="eve"' not in client.get("/portal/admin/users").text  # nothing half-made
        forged = client.post(
            "/portal/admin/users", data={"csrf": "forged", "name": "mallory", "role": "admin"}
        )
        assert forged.status_code == 403
        assert "mallory" not in client.get("/portal/admin/users").text


def test_role_biobanks_and_disable_go_through_the_services_and_take_effect_at_once(
    world: PortalWorld,
) -> None:
    token = world.seeded.outsider_token
    with httpx.Client(base_url=world.url) as client:
        csrf = _sign_in(client, world.seeded.admin_token)
        assert (
            client.post(
                "/portal/admin/users/role", data={"csrf": csrf, "user": "outsider", "role": "validator"}
            )
            .headers["location"]
            .endswith("done=role&user=outsider")
        )
        assert _me(world.url, token).json()["role"] == "validator"
        client.post(
            "/portal/admin/users/biobanks", data={"csrf": csrf, "user": "outsider", "biobank": "test-bb"}
        )
        assert _me(world.url, token).json()["biobanks"] == ["test-bb"]
        client.post("/portal/admin/users/biobanks", data={"csrf": csrf, "user": "outsider"})
        assert _me(world.url, token).json()["biobanks"] == []

        disabled = client.post(
            "/portal/admin/users/active", data={"csrf": csrf, "user": "outsider", "active": "0"}
        )
        assert "User outsider disabled" in client.get(disabled.headers["location"]).text
        refused = _me(world.url, token)
        assert refused.status_code == 401 and "is disabled" in refused.json()["detail"]
        client.post("/portal/admin/users/active", data={"csrf": csrf, "user": "outsider", "active": "1"})
        assert _me(world.url, token).status_code == 200

        # The node never loses its last active admin, and says so next to that user.
        last = client.post("/portal/admin/users/active", data={"csrf": csrf, "user": "admin", "active": "0"})
        assert last.status_code == 409
        assert re.search(
            r'id="user-\d+-error" role="alert">user &#39;admin&#39; is the node&#39;s last', last.text
        )
        demote = client.post(
            "/portal/admin/users/role", data={"csrf": csrf, "user": "admin", "role": "validator"}
        )
        assert (
            demote.status_code == 409 and _me(world.url, world.seeded.admin_token).json()["role"] == "admin"
        )
        unknown = client.post(
            "/portal/admin/users/role", data={"csrf": csrf, "user": "nobody", "role": "admin"}
        )
        assert unknown.status_code == 404


def test_only_admins_manage_users(world: PortalWorld) -> None:
    with httpx.Client(base_url=world.url) as client:
        csrf = _sign_in(client, world.seeded.validator_token, "/portal/me")  # signed in, but a validator
        refused = client.post(
            "/portal/admin/users/active", data={"csrf": csrf, "user": "admin", "active": "0"}
        )
    assert refused.status_code == 403 and "for admin users" in refused.text
    assert _me(world.url, world.seeded.admin_token).status_code == 200


def test_an_oidc_users_role_follows_claims_and_disabling_ends_their_portal_session(
    oidc_world: OidcWorld,
) -> None:
    issuer = oidc_world.issuer
    issuer.authorize_claims = {"sub": "aai-9", "preferred_username": "olga", "roles": ["validator"]}
    with httpx.Client(base_url=oidc_world.url, follow_redirects=False) as olga:
        start = olga.get("/portal/login/oidc")
        back = httpx.get(start.headers["location"]).headers["location"]
        assert olga.get(back.removeprefix(oidc_world.url)).status_code == 303
        assert olga.get("/portal/review").status_code == 200

        with httpx.Client(base_url=oidc_world.url) as client:
            csrf = _sign_in(client, oidc_world.world.seeded.admin_token)
            page = client.get("/portal/admin/users").text
            assert "Role from the identity provider&#39;s claims (OIDC user)." in page
            role = client.post(
                "/portal/admin/users/role", data={"csrf": csrf, "user": "olga", "role": "admin"}
            )
            assert role.status_code == 409 and "comes from their OIDC token&#39;s claims" in role.text
            client.post("/portal/admin/users/active", data={"csrf": csrf, "user": "olga", "active": "0"})
        ended = olga.get("/portal/review")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/portal/login?ended=")
        again = olga.get("/portal/login/oidc")
        refused = olga.get(
            httpx.get(again.headers["location"]).headers["location"].removeprefix(oidc_world.url)
        )
    assert refused.status_code == 401 and "user &#39;olga&#39; is disabled on this node" in refused.text


def test_an_admin_who_disables_themselves_is_signed_out_when_another_admin_remains(
    world: PortalWorld,
) -> None:
    world.seeded.node.add_user("second-admin", "admin")
    with httpx.Client(base_url=world.url) as client:
        csrf = _sign_in(client, world.seeded.admin_token)
        gone = client.post("/portal/admin/users/active", data={"csrf": csrf, "user": "admin", "active": "0"})
        assert gone.status_code == 303 and gone.headers["location"] == "/portal/login?ended=refused"
        after = client.get("/portal/admin/users")
        assert after.status_code == 303 and after.headers["location"].startswith("/portal/login")
    assert _me(world.url, world.seeded.admin_token).status_code == 401
