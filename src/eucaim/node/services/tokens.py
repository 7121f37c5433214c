"""API tokens with expiry, revocation and last use; and who a bearer token (API or OIDC) speaks for.

A token's last use is written at most once per :data:`LAST_USED_RESOLUTION`, so a burst of
requests costs one small UPDATE a minute rather than one per request.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import AuthenticationError, NotFound
from eucaim.node.db import session_scope
from eucaim.node.models import ApiToken, Biobank, User
from eucaim.node.oidc import OidcVerifier, looks_like_jwt
from eucaim.node.oidc_claims import identity_from_claims
from eucaim.node.roles import Role
from eucaim.node.services.accounts import TOKEN_PREFIX, get_user, hash_token
from eucaim.node.services.oidc_accounts import sign_in

logger = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(seconds=60)
SIGN_IN_ATTEMPTS = 4
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """Return the duration ``90d``, ``12h``, ``30m`` or ``2w`` stands for; None for ``never``.

    Raises:
        ValueError: anything else, or zero.
    """
    if text.strip().lower() == "never":
        return None
    match = _DURATION.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expiry {text!r} is not a duration: use e.g. 90d, 12h, 30m, 2w or never")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the token or its hash."""

    id: int
    user: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """Return ``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret (shown once) and its listing entry."""

    token: str
    info: TokenInfo


@dataclass(frozen=True)
class Bearer:
    """Who a request's bearer token speaks for."""

    user_id: int
    name: str
    role: Role
    method: str  # "api-token" or "oidc"
    expires_at: datetime | None
    token_id: int | None = None  # the API token's id
    last_use_due: bool = False  # its last use is older than LAST_USED_RESOLUTION


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user=row.user.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_token(session: Session, *, user_name: str, now: datetime, ttl: timedelta | None) -> IssuedToken:
    """Issue a token for ``user_name``, valid for ``ttl`` (None: until revoked).

    Raises:
        NotFound: no such user.
    """
    user = get_user(session, name=user_name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 4],
        created_at=now,
        expires_at=now + ttl if ttl is not None else None,
    )
    session.add(row)
    session.flush()
    logger.info("issued API token id=%d for user id=%d", row.id, user.id)
    return IssuedToken(token=token, info=_info(row))


def list_tokens(session: Session, *, user_name: str | None = None) -> list[TokenInfo]:
    """Return every token (or one user's), oldest first.

    Raises:
        NotFound: ``user_name`` does not exist.
    """
    query = select(ApiToken).order_by(ApiToken.id)
    if user_name is not None:
        query = query.where(ApiToken.user_id == get_user(session, name=user_name).id)
    return [_info(row) for row in session.scalars(query)]


def revoke_token(session: Session, *, token_id: int, now: datetime) -> TokenInfo:
    """Revoke a token by id; revoking it again changes nothing.

    Raises:
        NotFound: no token has this id.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"API token {token_id} does not exist", hint="see `eucaim-node token list`")
    if row.revoked_at is None:
        row.revoked_at = now
        logger.info("revoked API token id=%d", token_id)
    session.flush()
    return _info(row)


def authenticate_api_token(session: Session, *, token: str, now: datetime) -> Bearer:
    """Return who an API token belongs to (reads only; :func:`note_token_use` records the use).

    Raises:
        AuthenticationError: unknown, revoked or expired token, or a disabled user.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        raise AuthenticationError(
            "unknown API token", status_code=401, hint="check the token, or ask the node admin for one"
        )
    if row.revoked_at is not None:
        raise AuthenticationError(
            "API token was revoked",
            status_code=401,
            hint=f"token {row.prefix}… was revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC; ask the node "
            "admin for a new one",
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationError(
            "API token has expired",
            status_code=401,
            hint=f"token {row.prefix}… expired on {row.expires_at:%Y-%m-%d %H:%M} UTC; ask the node admin "
            "for a new one (`eucaim-node token create`)",
        )
    if not row.user.is_active:
        raise AuthenticationError(f"user {row.user.name!r} is disabled", status_code=401)
    due = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
    return Bearer(row.user.id, row.user.name, row.user.role, "api-token", row.expires_at, row.id, due)


def note_token_use(sessions: sessionmaker[Session], *, token_id: int, now: datetime) -> None:
    """Record that a token was used now, unless a concurrent request just did; never fails a request.

    A transaction of its own that starts with the write: on SQLite a read-then-write transaction
    fails at once ("database is locked") when another request committed in between.
    """
    stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_RESOLUTION)
    try:
        with session_scope(sessions) as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id, stale).values(last_used_at=now))
    except OperationalError as exc:  # a statistic: losing one update is fine
        logger.debug("last use of token id=%d not recorded: %s", token_id, type(exc).__name__)


def authenticate_bearer(
    sessions: sessionmaker[Session], *, token: str, now: datetime, verifier: OidcVerifier | None
) -> Bearer:
    """Return who a bearer token speaks for: an OIDC JWT when the node trusts an issuer, else an API token.

    The JWT is verified (maybe fetching the issuer's keys) before any session opens.

    Raises:
        AuthenticationError: the token is refused (the message says why).
        PermissionDenied: a valid OIDC token whose claims grant no role.
    """
    if looks_like_jwt(token):
        if verifier is None:
            raise AuthenticationError(
                "this node accepts no OIDC tokens (no issuer configured)",
                status_code=401,
                hint="use an API token from `eucaim-node token create`",
            )
        claims: dict[str, Any] = verifier.verify(token)
        identity = identity_from_claims(claims, verifier.rules)
        exp = claims.get("exp")
        expires = datetime.fromtimestamp(exp, now.tzinfo) if isinstance(exp, int | float) else None
        # A person's first requests may arrive together: all find no user and try to make it.
        # The losers' transactions fail (unique constraint, or SQLite's stale snapshot); run again,
        # they find what the winner made.
        for attempt in range(SIGN_IN_ATTEMPTS):
            try:
                with session_scope(sessions) as session:
                    user = sign_in(session, issuer=verifier.issuer, identity=identity)
                    return Bearer(user.id, user.name, user.role, "oidc", expires)
            except (IntegrityError, OperationalError):
                if attempt + 1 == SIGN_IN_ATTEMPTS:
                    raise
                time.sleep(0.05 * (attempt + 1))
    with session_scope(sessions) as session:
        bearer = authenticate_api_token(session, token=token, now=now)
    if bearer.last_use_due and bearer.token_id is not None:
        note_token_use(sessions, token_id=bearer.token_id, now=now)
    return bearer


def managed_biobank_codes(session: Session, *, user_id: int) -> list[str]:
    """Return the codes of the biobanks a user manages, sorted."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user id {user_id} does not exist")
    return sorted(biobank.code for biobank in user.managed_biobanks if isinstance(biobank, Biobank))
