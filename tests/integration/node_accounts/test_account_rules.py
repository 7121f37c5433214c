"""Pure rules of accounts: claim mapping, who may do what with biobank requests, device-flow polling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eucaim.errors import AuthenticationError, PermissionDenied
from eucaim.ingest.login import TokenSet, needs_refresh, next_interval, token_set
from eucaim.node.oidc import looks_like_jwt
from eucaim.node.oidc_claims import ClaimRules, biobank_group_regex, claim_values, identity_from_claims
from eucaim.node.oidc_settings import OidcSettings
from eucaim.node.request_rules import can_decide_request, can_see_request, can_submit_request
from eucaim.node.roles import Role

RULES = ClaimRules(
    username_claim="preferred_username",
    role_claim="realm_access.roles",
    role_map={"eucaim-admin": Role.ADMIN, "authorized-technical-data-manager": Role.DATA_INGESTER},
    default_role=None,
    group_claim="groups",
    biobank_group_pattern="PROJECT-{code}",
)


def test_keycloak_style_claims_map_to_role_and_biobanks() -> None:
    claims = {
        "sub": "kc-1",
        "preferred_username": "nora",
        "realm_access": {"roles": ["offline_access", "authorized-technical-data-manager"]},
        "groups": ["/PROJECT-LUNG-01", "/ADMINS-PROJECT-LUNG-01", "PROJECT-", "PROJECT-bad code", "/other"],
    }
    identity = identity_from_claims(claims, RULES)
    assert (identity.subject, identity.username, identity.role) == ("kc-1", "nora", Role.DATA_INGESTER)
    assert identity.biobank_codes == {"LUNG-01"}


def test_the_most_privileged_role_wins_and_role_names_map_to_themselves() -> None:
    claims = {"sub": "s", "realm_access": {"roles": ["validator", "eucaim-admin", "data-ingester"]}}
    assert identity_from_claims(claims, RULES).role is Role.ADMIN
    assert (
        identity_from_claims({"sub": "s", "realm_access": {"roles": "validator"}}, RULES).role
        is Role.VALIDATOR
    )


def test_no_role_no_subject_and_the_default_role() -> None:
    with pytest.raises(PermissionDenied, match="carries no role"):
        identity_from_claims({"sub": "s", "realm_access": {"roles": ["offline_access"]}}, RULES)
    with pytest.raises(PermissionDenied, match="no subject"):
        identity_from_claims({"realm_access": {"roles": ["validator"]}}, RULES)
    lenient = ClaimRules(**{**RULES.__dict__, "default_role": Role.DATA_INGESTER})
    identity = identity_from_claims({"sub": "s"}, lenient)
    assert (identity.role, identity.username) == (Role.DATA_INGESTER, "s")  # no name claim: the subject


def test_claim_values_and_patterns() -> None:
    assert claim_values({"a": {"b": ["x", 1, "y"]}}, "a.b") == ["x", "y"]
    assert claim_values({"a": 3}, "a") == [] and claim_values({}, "a.b") == []
    with pytest.raises(ValueError, match="exactly once"):
        biobank_group_regex("PROJECT")
    regex = biobank_group_regex("urn:x:group:PROJECT-{code}#aai")
    assert regex.fullmatch("urn:x:group:PROJECT-bb_1#aai") and not regex.fullmatch(
        "urnXx:group:PROJECT-b#aai"
    )


def test_biobank_request_rules() -> None:
    assert [can_submit_request(r) for r in Role] == [True, False, False]
    assert can_see_request(Role.DATA_INGESTER, is_requester=True)
    assert not can_see_request(Role.DATA_INGESTER, is_requester=False)
    assert not can_see_request(Role.VALIDATOR, is_requester=True)
    assert can_see_request(Role.ADMIN, is_requester=False)
    assert [can_decide_request(r) for r in Role] == [False, False, True]


def test_device_flow_polling_rules() -> None:
    assert next_interval("authorization_pending", 5) == 5
    assert next_interval("slow_down", 5) == 10
    for error, message in [
        ("access_denied", "refused"),
        ("expired_token", "expired"),
        ("invalid_client", "invalid_client"),
    ]:
        with pytest.raises(AuthenticationError, match=message):
            next_interval(error, 5)


def test_token_responses_and_renewal_timing() -> None:
    tokens = token_set({"access_token": "a", "expires_in": 300}, now=1000, previous_refresh="r0")
    assert tokens == TokenSet("a", "r0", 1300)
    assert not needs_refresh(tokens, now=1000) and needs_refresh(tokens, now=1241)
    assert not needs_refresh(TokenSet("a", None, None), now=10**12)
    with pytest.raises(AuthenticationError, match="without an access token"):
        token_set({"token_type": "Bearer"}, now=0)


def test_what_looks_like_a_jwt() -> None:
    assert looks_like_jwt("eyJhbGciOi.eyJzdWIiOi.c2ln")
    assert not looks_like_jwt("eucaim_abc.def.ghi") and not looks_like_jwt("eyJonly.two")


def test_the_issuer_must_be_https_except_on_loopback() -> None:
    assert OidcSettings(issuer="https://login.aai.lifescience-ri.eu/oidc/").enabled
    assert OidcSettings(issuer="http://127.0.0.1:8080").enabled
    assert not OidcSettings().enabled
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        OidcSettings(issuer="http://login.example.org")
