"""Token claims to a node identity: who (subject, user name), which role, which biobanks. Pure rules.

The rules come from :class:`eucaim.node.oidc_settings.OidcSettings`; the verified claims from
:mod:`eucaim.node.oidc`. Nothing here touches the network, the database or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eucaim.errors import PermissionDenied
from eucaim.node.roles import Role

# When several claim values map to roles, the most privileged wins: an IdP that lists a validator
# also as a data ingester means the person is both, and the node's roles are nested that way.
ROLE_RANK = {Role.DATA_INGESTER: 0, Role.VALIDATOR: 1, Role.ADMIN: 2}
_CODE_RE = r"(?P<code>[A-Za-z0-9][A-Za-z0-9_-]{0,63})"


@dataclass(frozen=True)
class ClaimRules:
    """How claims map to rights (see OidcSettings for each field's meaning)."""

    username_claim: str
    role_claim: str
    role_map: Mapping[str, Role]
    default_role: Role | None
    group_claim: str
    biobank_group_pattern: str


@dataclass(frozen=True)
class ClaimIdentity:
    """Who a verified token speaks for, and what its claims grant."""

    subject: str
    username: str
    role: Role
    biobank_codes: frozenset[str]


def claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    """Return the string values of claim ``name`` (a dotted path; a string or a list of strings)."""
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return []
        value = value[part]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def biobank_group_regex(pattern: str) -> re.Pattern[str]:
    """Return the regex a group value must fully match; ``{code}`` captures the biobank code.

    Raises:
        ValueError: the pattern lacks ``{code}``.
    """
    if pattern.count("{code}") != 1:
        raise ValueError(f"biobank group pattern {pattern!r} must contain {{code}} exactly once")
    before, after = pattern.split("{code}")
    return re.compile(re.escape(before) + _CODE_RE + re.escape(after))


def map_role(values: list[str], rules: ClaimRules) -> Role | None:
    """Return the most privileged role the values map to, else the default role (maybe None)."""
    mapping: dict[str, Role] = {role.value: role for role in Role}
    mapping.update(rules.role_map)
    roles = [mapping[value] for value in values if value in mapping]
    if not roles:
        return rules.default_role
    return max(roles, key=lambda role: ROLE_RANK[role])


def map_biobanks(values: list[str], pattern: re.Pattern[str]) -> frozenset[str]:
    """Return the biobank codes named by group values (Keycloak group paths lose their leading '/')."""
    codes = set()
    for value in values:
        match = pattern.fullmatch(value.lstrip("/"))
        if match:
            codes.add(match.group("code"))
    return frozenset(codes)


def identity_from_claims(claims: Mapping[str, Any], rules: ClaimRules) -> ClaimIdentity:
    """Map verified claims to the identity the node acts on.

    Raises:
        PermissionDenied: no claim value maps to a node role and there is no default role.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise PermissionDenied("the token has no subject ('sub' claim)", hint="use an access token")
    names = claim_values(claims, rules.username_claim)
    username = (names[0] if names else subject).strip()[:100] or subject[:100]
    role = map_role(claim_values(claims, rules.role_claim), rules)
    if role is None:
        raise PermissionDenied(
            f"the token of {username!r} carries no role this node knows (claim {rules.role_claim!r})",
            hint="ask the node operator to grant you a EUCAIM role (e.g. data-ingester) at the identity "
            "provider",
        )
    codes = map_biobanks(
        claim_values(claims, rules.group_claim), biobank_group_regex(rules.biobank_group_pattern)
    )
    return ClaimIdentity(subject=subject, username=username, role=role, biobank_codes=codes)
