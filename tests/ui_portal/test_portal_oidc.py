"""Portal sign-in with the node's OIDC issuer over HTTP: code flow with PKCE, state, nonce, audience.

The issuer is tests/support/oidc_issuer.py on loopback: it checks the client, the redirect URI and
the S256 code verifier before it gives tokens, so a sign-in that works proves the PKCE pair too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.node_server import running_node
from tests.ui_portal.conftest import OidcWorld

pytestmark = pytest.mark.integration

VALIDATOR = {"sub": "aai-val-7", "preferred_username": "vic", "roles": ["validator"]}


def _start(client: httpx.Client, next_path: str = "/portal/me") -> tuple[httpx.Response, dict[str, str]]:
    started = client.get("/portal/login/oidc", params={"next": next_path})
    assert started.status_code == 303, started.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
    return started, query


def _at_issuer(location: str) -> str:
    """Play the browser at the issuer: follow /authorize and return where it sends us back."""
    answer = httpx.get(location)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def _back(client: httpx.Client, callback: str) -> httpx.Response:
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")


def _session_cookie(response: httpx.Response) -> str | None:
    return next(
        (v for k, v in response.headers.multi_items() if k == "set-cookie" and "eucaim_portal_session=" in v),
        None,
    )


def test_sign_in_with_the_issuer_maps_claims_like_the_api_and_sets_a_lax_httponly_cookie(
    oidc_world: OidcWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    issuer = oidc_world.issuer
    issuer.authorize_claims = VALIDATOR
    with httpx.Client(base_url=oidc_world.url) as client:
        login = client.get("/portal/login")
        assert "Sign in with 127.0.0.1" in login.text
        started, query = _start(client, "/portal/review")
        assert started.headers["location"].startswith(f"{issuer.url}/authorize?")
        assert query["client_id"] == "eucaim-portal" and query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert query["redirect_uri"] == f"{oidc_world.url}/portal/login/oidc/callback"
        assert query["scope"].split()[0] == "openid" and query["state"] and query["nonce"]
        flow = next(v for k, v in started.headers.multi_items() if k == "set-cookie")
        assert "HttpOnly" in flow and "samesite=lax" in flow.lower() and "Path=/portal/login/oidc" in flow
        for secret in (query["state"], query["nonce"]):
            assert secret not in flow  # sealed, not readable

        callback = _at_issuer(started.headers["location"])
        code = parse_qs(urlsplit(callback).query)["code"][0]
        finished = _back(client, callback)
        assert finished.status_code == 303 and finished.headers["location"] == "/portal/review"
        cookie = _session_cookie(finished)
        assert cookie is not None and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # plain HTTP on loopback; test_portal_pages covers the https case
        queue = client.get("/portal/review")
        assert queue.status_code == 200
        assert "Signed in as vic (validator)" in queue.text and oidc_world.world.dataset_name in queue.text
        # The same user the API makes of this subject, with the role its claims grant.
        me = httpx.get(
            f"{oidc_world.url}/me", headers={"Authorization": f"Bearer {issuer.mint(**VALIDATOR)}"}
        ).json()
        assert (me["name"], me["role"]) == ("vic", "validator")
        # The answer cannot be used twice: the flow cookie is gone, and the code was good once.
        again = _back(client, callback)
        assert again.status_code == 400 and "not started in this browser" in again.text
    node_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("eucaim"))
    assert "portal OIDC sign-in of user id=" in node_logs
    for secret in (code, query["state"], query["nonce"], query["code_challenge"]):
        assert secret not in node_logs


def test_an_answer_with_another_state_is_refused_and_its_code_never_exchanged(
    oidc_world: OidcWorld,
) -> None:
    issuer = oidc_world.issuer
    issuer.authorize_claims = VALIDATOR
    with httpx.Client(base_url=oidc_world.url) as client:
        started, _ = _start(client)
        callback = _at_issuer(started.headers["location"])
        code = parse_qs(urlsplit(callback).query)["code"][0]
        before = issuer.token_requests
        forged = client.get("/portal/login/oidc/callback", params={"code": code, "state": "attacker-state"})
        assert forged.status_code == 400
        assert "does not belong to the sign-in this browser started (state mismatch)" in forged.text
        assert 'id="oidc-error" role="alert"' in forged.text
        assert _session_cookie(forged) is None and issuer.token_requests == before
        assert client.get("/portal/review").status_code == 303  # still signed out


def test_a_callback_this_browser_did_not_start_is_refused(oidc_world: OidcWorld) -> None:
    oidc_world.issuer.authorize_claims = VALIDATOR
    with httpx.Client(base_url=oidc_world.url) as victim, httpx.Client(base_url=oidc_world.url) as attacker:
        started, _ = _start(attacker)
        callback = _at_issuer(started.headers["location"])
        planted = _back(victim, callback)  # login CSRF: the attacker's code in the victim's browser
    assert planted.status_code == 400 and "not started in this browser" in planted.text
    assert _session_cookie(planted) is None


@pytest.mark.parametrize(
    ("claims", "id_token", "status", "message"),
    [
        (
            {**VALIDATOR, "aud": "another-service"},
            {},
            401,
            "The node refused this sign-in: the OIDC token is not meant for this node "
            "(audience is not &#39;eucaim-node&#39;).",
        ),
        (VALIDATOR, {"nonce": "replayed"}, 401, "the ID token belongs to another sign-in (nonce mismatch)"),
        (VALIDATOR, {"aud": "eucaim-node"}, 401, "not meant for this node"),
        ({"sub": "aai-x", "roles": ["nurse"]}, {}, 401, "carries no role this node knows"),
        (None, {}, 401, "did not sign you in (you declined, or it refused: access_denied)"),
    ],
    ids=[
        "access-token-for-another-audience",
        "wrong-nonce",
        "id-token-for-another-client",
        "no-role",
        "declined",
    ],
)
def test_tokens_the_node_must_not_accept_are_refused_on_the_sign_in_page(
    oidc_world: OidcWorld,
    claims: dict[str, object] | None,
    id_token: dict[str, object],
    status: int,
    message: str,
) -> None:
    issuer = oidc_world.issuer
    issuer.authorize_claims = claims
    issuer.id_token_claims = id_token
    with httpx.Client(base_url=oidc_world.url) as client:
        started, _ = _start(client)
        refused = _back(client, _at_issuer(started.headers["location"]))
        assert refused.status_code == status
        assert message in refused.text
        assert _session_cookie(refused) is None
        assert client.get("/portal/me").status_code == 303


def test_a_node_without_an_issuer_offers_no_oidc_sign_in(tmp_path: Path) -> None:
    with running_node(tmp_path / "plain") as node:
        login = httpx.get(f"{node.url}/portal/login")
        assert login.status_code == 200 and 'href="/portal/login/oidc' not in login.text
        start = httpx.get(f"{node.url}/portal/login/oidc")
    assert start.status_code == 404 and "has no OIDC issuer for the portal" in start.text


def test_an_opaque_access_token_is_refused_with_what_to_ask_for(oidc_world: OidcWorld) -> None:
    oidc_world.issuer.authorize_claims = VALIDATOR
    oidc_world.issuer.opaque_access_tokens = True
    with httpx.Client(base_url=oidc_world.url) as client:
        started, _ = _start(client)
        refused = _back(client, _at_issuer(started.headers["location"]))
    assert refused.status_code == 401
    assert (
        "the issuer&#39;s access token is not a JWT; the node verifies JWT access tokens only" in refused.text
    )
    assert _session_cookie(refused) is None
