"""User administration: role, enabled or disabled, managed biobanks (`eucaim-node user` and the portal).

A disabled user keeps their tokens, but every request with them is refused
(:func:`eucaim.node.services.tokens.authenticate_api_token`, and OIDC sign-in), until enabled
again. The node never loses its last active admin: demoting or disabling them is refused. The role
of an OIDC user comes from their token's claims at every request, so it is changed at the identity
provider, not here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from eucaim.errors import Conflict
from eucaim.node.models import User
from eucaim.node.models_accounts import OidcIdentity, OidcMembership
from eucaim.node.roles import Role
from eucaim.node.services.accounts import get_user
from eucaim.node.services.biobanks import get_biobank

logger = logging.getLogger(__name__)


def is_oidc_user(session: Session, *, user_id: int) -> bool:
    """Return True when the user was made for an OIDC subject (their role follows the claims)."""
    found = session.scalar(select(OidcIdentity.id).where(OidcIdentity.user_id == user_id).limit(1))
    return found is not None


def _check_admins_remain(session: Session, user: User) -> None:
    if user.role is not Role.ADMIN or not user.is_active:
        return
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.is_active.is_(True), User.id != user.id)
    )
    if not others:
        raise Conflict(
            f"user {user.name!r} is the node's last active admin",
            hint="make another user admin first",
        )


def set_role(session: Session, *, name: str, role: Role) -> User:
    """Give user ``name`` another role.

    Raises:
        NotFound: no such user.
        Conflict: the user is the last active admin, or an OIDC user (role from claims).
    """
    user = get_user(session, name=name)
    if user.role is role:
        return user
    if is_oidc_user(session, user_id=user.id):
        raise Conflict(
            f"the role of {name!r} comes from their OIDC token's claims",
            hint="change it at the identity provider",
        )
    _check_admins_remain(session, user)
    logger.info("user id=%d role %s -> %s", user.id, user.role.value, role.value)
    user.role = role
    session.flush()
    return user


def set_active(session: Session, *, name: str, active: bool) -> User:
    """Enable or disable user ``name``; a disabled user's API tokens and OIDC sign-ins are refused.

    Raises:
        NotFound: no such user.
        Conflict: disabling the last active admin.
    """
    user = get_user(session, name=name)
    if user.is_active is active:
        return user
    if not active:
        _check_admins_remain(session, user)
    user.is_active = active
    logger.info("user id=%d %s", user.id, "enabled" if active else "disabled")
    session.flush()
    return user


def set_biobanks(session: Session, *, name: str, codes: Sequence[str]) -> User:
    """Make user ``name`` manage exactly the biobanks ``codes``.

    Raises:
        NotFound: no such user or biobank.
    """
    user = get_user(session, name=name)
    biobanks = [get_biobank(session, code=code) for code in dict.fromkeys(codes)]
    kept = {b.id for b in biobanks}
    user.managed_biobanks[:] = biobanks
    # A claim-made membership taken away here is no longer the claims' to track.
    session.execute(
        delete(OidcMembership).where(
            OidcMembership.user_id == user.id, OidcMembership.biobank_id.not_in(kept)
        )
    )
    logger.info("user id=%d manages %d biobank(s)", user.id, len(biobanks))
    session.flush()
    return user
