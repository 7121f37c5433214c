"""Users and their API tokens: create, issue, authenticate, revoke.

Tokens are random (256 bits) and only their SHA-256 is stored: a plain hash suffices for a
secret of that strength, and lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from eucaim.errors import AuthenticationError, Conflict, NotFound
from eucaim.node.models import ApiToken, User
from eucaim.node.roles import Role

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "eucaim_"


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(session: Session, *, name: str, role: Role) -> User:
    """Create a user.

    Raises:
        Conflict: a user with this name exists.
    """
    name = name.strip()
    if not name or len(name) > 128:
        raise ValueError("a user name has 1 to 128 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists", hint="pick another name")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    logger.info("created user id=%d with role %s", user.id, role.value)
    return user


def get_user(session: Session, *, name: str) -> User:
    """Return the user called ``name``.

    Raises:
        NotFound: no such user.
    """
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} does not exist", hint="create it with `eucaim-node user add`")
    return user


def issue_token(session: Session, *, user: User, now: datetime, ttl: timedelta | None) -> str:
    """Create an API token for ``user`` and return it; it cannot be recovered later."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user=user,
            token_hash=hash_token(token),
            prefix=token[: len(TOKEN_PREFIX) + 4],
            created_at=now,
            expires_at=now + ttl if ttl is not None else None,
        )
    )
    session.flush()
    logger.info("issued an API token for user id=%d", user.id)
    return token


def authenticate_token(session: Session, *, token: str, now: datetime) -> User:
    """Return the active user a bearer token belongs to.

    Raises:
        AuthenticationError: unknown, expired or revoked token, or an inactive user.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        raise AuthenticationError("unknown API token", status_code=401, hint="check the token you pass")
    if row.revoked_at is not None:
        raise AuthenticationError("API token was revoked", status_code=401, hint="ask for a new token")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationError("API token has expired", status_code=401, hint="ask for a new token")
    if not row.user.is_active:
        raise AuthenticationError("user account is disabled", status_code=401)
    return row.user


def revoke_tokens(session: Session, *, user: User, now: datetime) -> int:
    """Revoke every live token of ``user``; return how many were revoked."""
    count = 0
    for row in user.tokens:
        if row.revoked_at is None:
            row.revoked_at = now
            count += 1
    session.flush()
    return count
