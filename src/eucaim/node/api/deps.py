"""Request dependencies: the node context, the authenticated caller, and the biobank they act on.

Each dependency opens and closes its own short session, so no transaction stays open while a
large STOW body streams in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from eucaim.node.context import NodeContext
from eucaim.node.errors import MissingCredentials
from eucaim.node.models import User
from eucaim.node.oidc import verifier_for
from eucaim.node.roles import Role
from eucaim.node.services.biobanks import authorize, get_biobank
from eucaim.node.services.tokens import authenticate_bearer

_bearer = HTTPBearer(
    auto_error=False, description="API token from `eucaim-node token create`, or an OIDC access token"
)


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request."""

    user_id: int
    name: str
    role: Role
    method: str = "api-token"  # or "oidc"
    token_expires_at: datetime | None = None


@dataclass(frozen=True)
class BiobankRef:
    """The biobank a request acts on, after the caller's rights were checked."""

    id: int
    code: str
    name: str


def get_context(request: Request) -> NodeContext:
    """Return the process's node context."""
    context: NodeContext = request.app.state.node
    return context


Context = Annotated[NodeContext, Depends(get_context)]


def get_caller(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the bearer token: an API token, or an OIDC JWT when an issuer is configured.

    Raises:
        MissingCredentials: no token.
        AuthenticationError: a token the node does not accept.
    """
    if credentials is None:
        raise MissingCredentials(
            "this endpoint needs an API token",
            status_code=401,
            hint="send the header 'Authorization: Bearer <token>'",
        )
    verifier = verifier_for(request.app.state, context.settings.oidc)
    bearer = authenticate_bearer(
        context.sessions, token=credentials.credentials, now=datetime.now(UTC), verifier=verifier
    )
    return Caller(bearer.user_id, bearer.name, bearer.role, bearer.method, bearer.expires_at)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def _biobank(context: NodeContext, caller: Caller, code: str, *, write: bool) -> BiobankRef:
    with context.sessions() as session:
        biobank = get_biobank(session, code=code)
        user = session.get(User, caller.user_id)
        assert user is not None
        authorize(biobank, user, write=write)
        return BiobankRef(id=biobank.id, code=biobank.code, name=biobank.name)


def readable_biobank(code: str, context: Context, caller: CurrentCaller) -> BiobankRef:
    """Return the biobank ``code`` when the caller may read it (404 unknown, 403 not allowed)."""
    return _biobank(context, caller, code, write=False)


def writable_biobank(code: str, context: Context, caller: CurrentCaller) -> BiobankRef:
    """Return the biobank ``code`` when the caller may store into it."""
    return _biobank(context, caller, code, write=True)


ReadableBiobank = Annotated[BiobankRef, Depends(readable_biobank)]
WritableBiobank = Annotated[BiobankRef, Depends(writable_biobank)]
