"""OIDC sign-in: the user of an issuer's subject (made at first sight), its role and biobanks from claims.

Claims are the source of truth for OIDC users at every request: a role or group removed at the
identity provider is gone from the node at the next request. Biobanks an admin gave by hand (or an
approved biobank request) are kept, because only claim-made rows are recorded in OidcMembership.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eucaim.errors import AuthenticationError
from eucaim.node.models import Biobank, User
from eucaim.node.models_accounts import OidcIdentity, OidcMembership
from eucaim.node.oidc_claims import ClaimIdentity

logger = logging.getLogger(__name__)


def sign_in(session: Session, *, issuer: str, identity: ClaimIdentity) -> User:
    """Return the user of ``identity``, created on first sight, with role and memberships from its claims.

    Raises:
        AuthenticationError: the user was disabled on the node.
    """
    user = _find_or_create(session, issuer=issuer, identity=identity)
    if not user.is_active:
        raise AuthenticationError(f"user {user.name!r} is disabled on this node", status_code=401)
    if user.role is not identity.role:
        logger.info(
            "user id=%d role %s -> %s (from token claims)", user.id, user.role.value, identity.role.value
        )
        user.role = identity.role
    _sync_memberships(session, user, identity.biobank_codes)
    session.flush()
    return user


def _find_or_create(session: Session, *, issuer: str, identity: ClaimIdentity) -> User:
    query = select(OidcIdentity).where(
        OidcIdentity.issuer == issuer, OidcIdentity.subject == identity.subject
    )
    link = session.scalar(query)
    if link is not None:
        return link.user
    try:
        # A savepoint: two first requests of one person race; the loser reads the winner's row.
        with session.begin_nested():
            user = User(name=_free_name(session, identity.username, issuer), role=identity.role)
            session.add(user)
            session.flush()
            session.add(OidcIdentity(issuer=issuer, subject=identity.subject, user_id=user.id))
            session.flush()
    except IntegrityError:
        link = session.scalar(query)
        if link is None:
            raise
        return link.user
    logger.info("created user id=%d for a new OIDC subject (role %s)", user.id, identity.role.value)
    return user


def _free_name(session: Session, wanted: str, issuer: str) -> str:
    """Return a user name not yet taken; a local user's name is never reused for an OIDC subject."""
    host = urlsplit(issuer).hostname or "oidc"
    candidates = [wanted, f"{wanted}@{host}", *(f"{wanted}@{host}-{n}" for n in range(2, 100))]
    for name in candidates:
        if session.scalar(select(User.id).where(User.name == name[:128])) is None:
            return name[:128]
    raise AuthenticationError(f"no free user name for {wanted!r}", status_code=401)


def _sync_memberships(session: Session, user: User, codes: frozenset[str]) -> None:
    granted = {
        row.biobank_id: row
        for row in session.scalars(select(OidcMembership).where(OidcMembership.user_id == user.id))
    }
    wanted = (
        {b.id: b for b in session.scalars(select(Biobank).where(Biobank.code.in_(codes)))} if codes else {}
    )
    managed = {b.id for b in user.managed_biobanks}
    for biobank_id, biobank in wanted.items():
        # A biobank managed by hand already stays unrecorded: not the claims' to take away later.
        if biobank_id not in managed:
            user.managed_biobanks.append(biobank)
            session.add(OidcMembership(user_id=user.id, biobank_id=biobank_id))
    for biobank_id, row in granted.items():
        if biobank_id not in wanted:
            user.managed_biobanks[:] = [b for b in user.managed_biobanks if b.id != biobank_id]
            session.delete(row)
