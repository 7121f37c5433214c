"""What a signed-in user's home page and the admin's user list show: read-only summaries of the index.

Read-side queries only (counts per biobank, the latest studies received, users with their rights);
every change goes through :mod:`eucaim.node.services`. They belong with the services and live here
until a second caller (the API, the CLI) needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eucaim.node.models import Biobank, Instance, Series, Study, User
from eucaim.node.models_accounts import OidcIdentity
from eucaim.node.roles import Role, can_read_biobank

RECENT_STUDIES = 15


@dataclass(frozen=True)
class BiobankSummary:
    """A biobank and what it holds."""

    code: str
    name: str
    studies: int
    series: int
    instances: int
    size: int
    last_upload: datetime | None
    managers: tuple[str, ...]


@dataclass(frozen=True)
class ReceivedStudy:
    """A study as it arrived: when, where, and how much (no identifiers)."""

    biobank: str
    received: datetime
    study_date: str | None
    modalities: str
    series: int
    instances: int


@dataclass(frozen=True)
class UserSummary:
    """A user as the admin's list shows them."""

    id: int
    name: str
    role: Role
    is_active: bool
    manages: tuple[str, ...]
    oidc: bool = False  # made for an OIDC subject: the role follows the token's claims


def readable_biobanks(session: Session, *, user_id: int) -> list[Biobank]:
    """Return the biobanks the user may read (managed ones; every one for validators and admins)."""
    user = session.get(User, user_id)
    if user is None:
        return []
    biobanks = session.scalars(select(Biobank).order_by(Biobank.code))
    return [
        b
        for b in biobanks
        if can_read_biobank(user.role, is_manager=any(m.id == user.id for m in b.managers))
    ]


def biobank_summaries(session: Session, *, user_id: int) -> list[BiobankSummary]:
    """Return the readable biobanks with their study, series and instance counts and last upload."""
    out = []
    for b in readable_biobanks(session, user_id=user_id):
        studies = session.scalar(select(func.count()).select_from(Study).where(Study.biobank_id == b.id)) or 0
        series = session.scalar(
            select(func.count()).select_from(Series).join(Study).where(Study.biobank_id == b.id)
        )
        inst = session.execute(
            select(
                func.count(), func.coalesce(func.sum(Instance.size), 0), func.max(Instance.created_at)
            ).where(Instance.biobank_id == b.id)
        ).one()
        out.append(
            BiobankSummary(
                code=b.code,
                name=b.name,
                studies=int(studies),
                series=int(series or 0),
                instances=int(inst[0]),
                size=int(inst[1]),
                last_upload=inst[2],
                managers=tuple(sorted(m.name for m in b.managers)),
            )
        )
    return out


def recent_studies(session: Session, *, user_id: int, limit: int = RECENT_STUDIES) -> list[ReceivedStudy]:
    """Return the studies most recently received into the user's readable biobanks, newest first."""
    ids = {b.id: b.code for b in readable_biobanks(session, user_id=user_id)}
    if not ids:
        return []
    last = func.max(Instance.created_at)
    rows = session.execute(
        select(Study.id, Study.biobank_id, Study.study_date, last, func.count(Instance.id))
        .join(Series, Series.study_id == Study.id)
        .join(Instance, Instance.series_id == Series.id)
        .where(Study.biobank_id.in_(ids))
        .group_by(Study.id, Study.biobank_id, Study.study_date)
        .order_by(last.desc(), Study.id.desc())
        .limit(limit)
    ).all()
    out = []
    for study_id, biobank_id, study_date, received, instances in rows:
        modalities = sorted(
            {m for m in session.scalars(select(Series.modality).where(Series.study_id == study_id)) if m}
        )
        n_series = session.scalar(select(func.count()).select_from(Series).where(Series.study_id == study_id))
        out.append(
            ReceivedStudy(
                biobank=ids[biobank_id],
                received=received,
                study_date=study_date,
                modalities=", ".join(modalities),
                series=int(n_series or 0),
                instances=int(instances),
            )
        )
    return out


def list_users(session: Session) -> list[UserSummary]:
    """Return every user, by name, with the biobanks they manage."""
    oidc = set(session.scalars(select(OidcIdentity.user_id)))
    return [
        UserSummary(
            id=u.id,
            name=u.name,
            role=u.role,
            is_active=u.is_active,
            manages=tuple(sorted(b.code for b in u.managed_biobanks)),
            oidc=u.id in oidc,
        )
        for u in session.scalars(select(User).order_by(User.name))
    ]


def biobank_codes(session: Session) -> list[str]:
    """Return the code of every biobank, sorted (the choices of a user's memberships)."""
    return list(session.scalars(select(Biobank.code).order_by(Biobank.code)))
