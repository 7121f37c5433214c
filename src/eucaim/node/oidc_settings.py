"""OIDC settings of the node (``EUCAIM_NODE_OIDC_*``): which issuer to trust and how its claims map to rights.

=======================  ==================================  ==========================================
setting                  environment variable                meaning (default)
=======================  ==================================  ==========================================
issuer                   EUCAIM_NODE_OIDC_ISSUER             issuer URL (``iss``) whose JWTs the node
                                                             accepts; unset: API tokens only
audience                 EUCAIM_NODE_OIDC_AUDIENCE           required ``aud`` (default: client_id)
client_id                EUCAIM_NODE_OIDC_CLIENT_ID          public client ``eucaim-ingest login`` uses
scopes                   EUCAIM_NODE_OIDC_SCOPES             scopes the CLI asks for (``openid profile``)
username_claim           EUCAIM_NODE_OIDC_USERNAME_CLAIM     names a just-in-time user
                                                             (``preferred_username``, else ``sub``)
role_claim               EUCAIM_NODE_OIDC_ROLE_CLAIM         claim holding role values (``roles``;
                                                             dotted paths: ``realm_access.roles``)
role_map                 EUCAIM_NODE_OIDC_ROLE_MAP           JSON object claim value → node role
                                                             (each role's own name maps to itself)
default_role             EUCAIM_NODE_OIDC_DEFAULT_ROLE       role when no value maps (none: refused)
group_claim              EUCAIM_NODE_OIDC_GROUP_CLAIM        claim holding groups (``groups``)
biobank_group            EUCAIM_NODE_OIDC_BIOBANK_GROUP      group naming a managed biobank
                                                             (``PROJECT-{code}``)
leeway_s                 EUCAIM_NODE_OIDC_LEEWAY_S           clock skew allowed on exp/nbf (30)
jwks_min_refresh_s       EUCAIM_NODE_OIDC_JWKS_MIN_REFRESH_S least seconds between two JWKS downloads
                                                             for unknown kids (30)
=======================  ==================================  ==========================================

LS-AAI style: ``EUCAIM_NODE_OIDC_ROLE_CLAIM=eduperson_entitlement`` with a role map from
entitlement URNs, and ``EUCAIM_NODE_OIDC_GROUP_CLAIM=eduperson_entitlement`` with
``EUCAIM_NODE_OIDC_BIOBANK_GROUP='urn:geant:lifescience-ri.eu:group:PROJECT-{code}#aai'``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eucaim.node.roles import Role


class OidcSettings(BaseSettings):
    """Validated OIDC configuration; ``enabled`` only when an issuer is set."""

    model_config = SettingsConfigDict(env_prefix="EUCAIM_NODE_OIDC_", extra="ignore", populate_by_name=True)

    issuer: str | None = None
    audience: str | None = None
    client_id: str | None = None
    scopes: str = "openid profile"
    username_claim: str = "preferred_username"
    role_claim: str = "roles"
    role_map: dict[str, Role] = Field(default_factory=dict)
    default_role: Role | None = None
    group_claim: str = "groups"
    biobank_group: str = "PROJECT-{code}"
    leeway_s: int = Field(default=30, ge=0, le=600)
    jwks_min_refresh_s: float = Field(default=30.0, ge=0.0)

    @field_validator("issuer")
    @classmethod
    def _issuer_over_tls(cls, value: str | None) -> str | None:
        # Keys fetched over plain HTTP could be swapped on the way, and with them every identity.
        if value and not value.startswith("https://"):
            host = urlsplit(value).hostname or ""
            if not value.startswith("http://") or host not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(
                    f"the OIDC issuer must be an https:// URL (plain http only on loopback): {value}"
                )
        return value

    @property
    def enabled(self) -> bool:
        """Return True when the node accepts OIDC bearer tokens."""
        return bool(self.issuer)

    @property
    def expected_audience(self) -> str | None:
        """Return the ``aud`` a token must carry: the audience setting, else the client id."""
        return self.audience or self.client_id
