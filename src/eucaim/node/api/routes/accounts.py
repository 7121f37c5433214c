"""GET /me (who the token speaks for) and GET /.well-known/eucaim-node (how clients log in)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from eucaim import __version__
from eucaim.node.api.deps import Context, CurrentCaller
from eucaim.node.db import session_scope
from eucaim.node.roles import Role
from eucaim.node.services.tokens import managed_biobank_codes

router = APIRouter(tags=["accounts"])


class MePublic(BaseModel):
    """The caller as the node sees them."""

    name: str
    role: Role
    biobanks: list[str] = Field(description="Codes of the biobanks the caller manages")
    auth: str = Field(description="'api-token' or 'oidc'")
    token_expires_at: datetime | None = Field(description="When the bearer token stops working (null: never)")


class OidcPublic(BaseModel):
    """What a client needs to obtain a token by the OIDC device authorization flow."""

    issuer: str
    client_id: str | None
    audience: str | None
    scopes: str


class NodeInfo(BaseModel):
    """The node's self-description for clients (no token needed)."""

    node: str = "eucaim-node"
    version: str
    oidc: OidcPublic | None = Field(description="null: this node accepts API tokens only")


@router.get("/me", summary="Who the bearer token speaks for: name, role, managed biobanks, token expiry")
def me(context: Context, caller: CurrentCaller) -> MePublic:
    """Return the caller's identity and rights."""
    with session_scope(context.sessions) as session:
        codes = managed_biobank_codes(session, user_id=caller.user_id)
    return MePublic(
        name=caller.name,
        role=caller.role,
        biobanks=codes,
        auth=caller.method,
        token_expires_at=caller.token_expires_at,
    )


@router.get(
    "/.well-known/eucaim-node", summary="How to log in to this node: its OIDC issuer and client id, if any"
)
def node_info(context: Context) -> NodeInfo:
    """Return the node's version and OIDC login parameters (for `eucaim-ingest login`)."""
    oidc = context.settings.oidc
    public = None
    if oidc.enabled and oidc.issuer:
        public = OidcPublic(
            issuer=oidc.issuer, client_id=oidc.client_id, audience=oidc.expected_audience, scopes=oidc.scopes
        )
    return NodeInfo(version=__version__, oidc=public)
