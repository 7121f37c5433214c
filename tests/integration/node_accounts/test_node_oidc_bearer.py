"""OIDC bearer tokens on the node: verified against the issuer's JWKS, claims mapped to role and biobanks."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from eucaim.errors import AuthenticationError, NotFound
from eucaim.node.db import session_scope
from eucaim.node.oidc_keys import IssuerKeys
from eucaim.node.services.accounts import get_user
from eucaim.node.services.biobanks import get_biobank
from tests.integration.node_accounts.conftest import oidc_settings
from tests.support.node_server import RunningNode, running_node
from tests.support.oidc_issuer import OidcIssuer


def _me(node: RunningNode, token: str) -> httpx.Response:
    return httpx.get(f"{node.url}/me", headers=node.auth(token))


def test_a_valid_token_signs_in_a_new_user_with_role_and_biobanks(
    oidc_node: RunningNode, issuer: OidcIssuer
) -> None:
    token = issuer.mint(
        sub="aai-123", preferred_username="dana", roles=["data-ingester"], groups=["/PROJECT-bb2", "other"]
    )
    response = _me(oidc_node, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "dana"
    assert body["role"] == "data-ingester"
    assert body["biobanks"] == ["bb2"]
    assert body["auth"] == "oidc"
    assert body["token_expires_at"] is not None
    # The mapped rights are real: dana may search bb2 and not bb1.
    assert (
        httpx.get(f"{oidc_node.dicomweb_url('bb2')}/studies", headers=oidc_node.auth(token)).status_code
        == 200
    )
    assert (
        httpx.get(f"{oidc_node.dicomweb_url('bb1')}/studies", headers=oidc_node.auth(token)).status_code
        == 403
    )
    # A second request is the same user, not a new one.
    assert (
        _me(oidc_node, issuer.mint(sub="aai-123", preferred_username="dana", roles=["data-ingester"])).json()[
            "name"
        ]
        == "dana"
    )


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"aud": "another-service"}, "not meant for this node"),
        ({"iss": "https://evil.example.org"}, "was not issued by"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 600}, "has expired"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
        ({"aud": None}, "refused"),
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "not-yet-valid", "no-audience"],
)
def test_tokens_the_node_must_not_accept_are_401(
    oidc_node: RunningNode, issuer: OidcIssuer, claims: dict[str, object], message: str
) -> None:
    token = issuer.mint(sub="aai-1", roles=["admin"], **claims)
    response = _me(oidc_node, token)
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_unknown_key_forged_signature_and_weak_algorithms_are_401(
    oidc_node: RunningNode, issuer: OidcIssuer
) -> None:
    stray = issuer.mint(sub="aai-1", roles=["admin"], key="nobody-publishes-this")
    assert _me(oidc_node, stray).status_code == 401
    assert "does not publish" in _me(oidc_node, stray).json()["detail"]
    # Signed by a key the issuer does not hold, under the issuer's kid: the signature fails.
    good = issuer.mint(sub="aai-1", roles=["admin"])
    forged = jwt.encode(
        jwt.decode(good, options={"verify_signature": False}),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": issuer.current_kid},
    )
    assert _me(oidc_node, forged).status_code == 401
    # "none" and HMAC (the public key used as a shared secret) are never accepted.
    claims = jwt.decode(good, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.current_kid})
    hmac = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": issuer.current_kid})
    for token in (unsigned, hmac):
        response = _me(oidc_node, token)
        assert response.status_code == 401
        assert "not accepted" in response.json()["detail"]


def test_keys_are_cached_and_refreshed_for_a_new_kid(tmp_path: Path, issuer: OidcIssuer) -> None:
    with running_node(tmp_path / "node", oidc=oidc_settings(issuer, jwks_min_refresh_s=0)) as node:

        def me_status(**claims: object) -> int:
            return _me(node, issuer.mint(sub="aai-9", roles=["validator"], **claims)).status_code

        assert [me_status() for _ in range(3)] == [200] * 3
        assert issuer.jwks_fetches == 1
        issuer.rotate()
        assert [me_status() for _ in range(2)] == [200] * 2
        assert issuer.jwks_fetches == 2


def test_made_up_kids_refresh_the_keys_at_most_once_per_interval(issuer: OidcIssuer) -> None:
    now = [1000.0]
    keys = IssuerKeys(issuer.url, min_refresh_s=30, clock=lambda: now[0])
    assert keys.key_for(issuer.current_kid).key_id == issuer.current_kid
    for n in range(5):
        with pytest.raises(AuthenticationError, match="does not publish"):
            keys.key_for(f"junk{n}")
    assert issuer.jwks_fetches == 1  # the first download is recent: no refresh for junk
    now[0] += 31
    new_kid = issuer.rotate()
    assert keys.key_for(new_kid).key_id == new_kid
    assert issuer.jwks_fetches == 2
    with pytest.raises(AuthenticationError):
        keys.key_for("junk-again")
    assert issuer.jwks_fetches == 2
    keys.close()


def test_no_role_is_403_and_claims_rule_the_role_and_memberships(
    oidc_node: RunningNode, issuer: OidcIssuer
) -> None:
    no_role = _me(oidc_node, issuer.mint(sub="aai-5", groups=["PROJECT-bb1"]))
    assert no_role.status_code == 403
    assert "carries no role" in no_role.json()["detail"]

    first = issuer.mint(
        sub="aai-5", preferred_username="eve", roles=["data-ingester"], groups=["PROJECT-bb1"]
    )
    assert _me(oidc_node, first).json()["biobanks"] == ["bb1"]
    # An admin also hands eve bb2 by hand: a right the claims did not give, so they never take it.
    with session_scope(oidc_node.context.sessions) as session:
        bb2 = get_biobank(session, code="bb2")
        bb2.managers.append(get_user(session, name="eve"))
    later = issuer.mint(
        sub="aai-5", preferred_username="eve", roles=["data-ingester", "validator"], groups=[]
    )
    body = _me(oidc_node, later).json()
    assert body["role"] == "validator"  # the most privileged mapped role wins
    assert body["biobanks"] == ["bb2"]  # bb1 came from a group that is gone; bb2 stays


def test_an_idp_account_never_takes_over_a_local_user_of_the_same_name(
    oidc_node: RunningNode, issuer: OidcIssuer
) -> None:
    token = issuer.mint(sub="aai-77", preferred_username="ingester", roles=["data-ingester"])
    body = _me(oidc_node, token).json()
    assert body["name"] == "ingester@127.0.0.1"
    assert body["biobanks"] == []  # the local "ingester" manages bb1; this person does not


def test_ls_aai_style_entitlements_map_roles_and_biobanks(tmp_path: Path, issuer: OidcIssuer) -> None:
    prefix = "urn:geant:lifescience-ri.eu:group:"
    settings = oidc_settings(
        issuer,
        role_claim="eduperson_entitlement",
        role_map={f"{prefix}eucaim:ingesters#aai.lifescience-ri.eu": "data-ingester"},
        group_claim="eduperson_entitlement",
        biobank_group=prefix + "PROJECT-{code}#aai.lifescience-ri.eu",
        username_claim="eduperson_principal_name",
    )
    with running_node(tmp_path / "node", oidc=settings) as node:
        node.create_biobank("LUNG-01")
        token = issuer.mint(
            sub="e1",
            eduperson_principal_name="ana@lifescience-ri.eu",
            eduperson_entitlement=[
                f"{prefix}eucaim:ingesters#aai.lifescience-ri.eu",
                f"{prefix}PROJECT-LUNG-01#aai.lifescience-ri.eu",
                f"{prefix}PROJECT-NOPE#elsewhere",
            ],
        )
        body = _me(node, token).json()
        assert (body["name"], body["role"], body["biobanks"]) == (
            "ana@lifescience-ri.eu",
            "data-ingester",
            ["LUNG-01"],
        )


def test_a_node_without_an_issuer_refuses_jwts_and_says_so(
    node_server: RunningNode, issuer: OidcIssuer
) -> None:
    response = _me(node_server, issuer.mint(sub="x", roles=["admin"]))
    assert response.status_code == 401
    assert "accepts no OIDC tokens" in response.json()["detail"]
    assert httpx.get(f"{node_server.url}/.well-known/eucaim-node").json()["oidc"] is None


def test_the_node_advertises_its_issuer_for_the_cli(oidc_node: RunningNode, issuer: OidcIssuer) -> None:
    info = httpx.get(f"{oidc_node.url}/.well-known/eucaim-node").json()
    assert info["oidc"] == {
        "issuer": issuer.url,
        "client_id": "eucaim-cli",
        "audience": "eucaim-node",
        "scopes": "openid profile",
    }


def test_an_unreachable_issuer_is_503_not_a_crash(tmp_path: Path, issuer: OidcIssuer) -> None:
    token = issuer.mint(sub="x", roles=["admin"])
    settings = oidc_settings(issuer)
    with running_node(
        tmp_path / "node", oidc=settings.model_copy(update={"issuer": "http://127.0.0.1:9"})
    ) as node:
        forged_iss = jwt.encode(
            {**jwt.decode(token, options={"verify_signature": False}), "iss": "http://127.0.0.1:9"},
            issuer.keys[issuer.current_kid],
            algorithm="RS256",
            headers={"kid": issuer.current_kid},
        )
        response = _me(node, forged_iss)
        assert response.status_code == 503
        assert "cannot reach the OIDC issuer" in response.json()["detail"]


def test_oidc_sign_in_on_postgresql(tmp_path: Path, issuer: OidcIssuer, postgres_database: str) -> None:
    with running_node(tmp_path / "node", database_url=postgres_database, oidc=oidc_settings(issuer)) as node:
        node.create_biobank("bb1")

        def me(**claims: object) -> httpx.Response:
            return _me(node, issuer.mint(sub="pg-1", preferred_username="pia", **claims))

        first = me(roles=["data-ingester"], groups=["PROJECT-bb1"]).json()
        assert (first["name"], first["role"], first["biobanks"]) == ("pia", "data-ingester", ["bb1"])
        later = me(roles=["admin"]).json()
        assert (later["name"], later["role"], later["biobanks"]) == ("pia", "admin", [])
        assert me(roles=["admin"], aud="someone-else").status_code == 401
        assert me(roles=["admin"], exp=int(time.time()) - 120).status_code == 401


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_first_requests_of_one_person_at_once_make_one_user(
    tmp_path: Path, issuer: OidcIssuer, database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_database") if database == "postgresql" else None
    with running_node(tmp_path / "node", database_url=url, oidc=oidc_settings(issuer)) as node:
        node.create_biobank("bb1")
        token = issuer.mint(
            sub="rush", preferred_username="rush", roles=["data-ingester"], groups=["PROJECT-bb1"]
        )
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _me(node, token), range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        assert {a.json()["name"] for a in answers} == {"rush"}
        assert {tuple(a.json()["biobanks"]) for a in answers} == {("bb1",)}
        with session_scope(node.context.sessions) as session:
            assert get_user(session, name="rush").managed_biobanks[0].code == "bb1"
            with pytest.raises(NotFound):
                get_user(session, name="rush@127.0.0.1")
