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
from eucaim.node.roles import Role
from eucaim.node.services.accounts import authenticate_token
from eucaim.node.services.biobanks import authorize, get_biobank

_bearer = HTTPBearer(auto_error=False, description="API token from `eucaim-node user add`")


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request."""

    user_id: int
    name: str
    role: Role


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
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the bearer token.

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
    with context.sessions() as session:
        user = authenticate_token(session, token=credentials.credentials, now=datetime.now(UTC))
        return Caller(user_id=user.id, name=user.name, role=user.role)


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
