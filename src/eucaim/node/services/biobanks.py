"""Biobanks: create them, look them up, and decide whether a user may read or write one."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from eucaim.errors import Conflict, NotFound, PermissionDenied
from eucaim.node.models import Biobank, User
from eucaim.node.roles import can_read_biobank, can_write_biobank
from eucaim.node.services.accounts import get_user
from eucaim.node.store import is_valid_biobank_code

logger = logging.getLogger(__name__)


def create_biobank(session: Session, *, code: str, name: str, managers: Sequence[str]) -> Biobank:
    """Create a biobank managed by the named users.

    Raises:
        ValueError: the code is not letters, digits, ``-`` and ``_`` (at most 64).
        NotFound: a manager does not exist.
        Conflict: the code is taken.
    """
    if not is_valid_biobank_code(code):
        raise ValueError(
            f"biobank code {code!r} is invalid: use 1-64 letters, digits, '-' or '_', starting with a "
            "letter or digit"
        )
    if session.scalar(select(Biobank).where(Biobank.code == code)) is not None:
        raise Conflict(f"biobank {code!r} already exists")
    users = [get_user(session, name=manager) for manager in managers]
    biobank = Biobank(code=code, name=name.strip() or code, managers=users)
    session.add(biobank)
    session.flush()
    logger.info("created biobank %s with %d manager(s)", code, len(users))
    return biobank


def get_biobank(session: Session, *, code: str) -> Biobank:
    """Return the biobank with ``code``.

    Raises:
        NotFound: no such biobank.
    """
    biobank = session.scalar(select(Biobank).where(Biobank.code == code))
    if biobank is None:
        raise NotFound(f"biobank {code!r} does not exist on this node")
    return biobank


def authorize(biobank: Biobank, user: User, *, write: bool) -> None:
    """Check that ``user`` may read (or write) ``biobank``.

    Raises:
        PermissionDenied: the user's role and management do not allow it.
    """
    is_manager = any(m.id == user.id for m in biobank.managers)
    allowed = (can_write_biobank if write else can_read_biobank)(user.role, is_manager=is_manager)
    if not allowed:
        action = "store data in" if write else "read"
        raise PermissionDenied(
            f"user {user.name!r} ({user.role.value}) may not {action} biobank {biobank.code!r}",
            hint="ask an admin to add you as a manager of this biobank",
        )
