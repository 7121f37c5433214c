"""Account tables beyond users and tokens: biobank requests and OIDC identities with their claim-made rights.

- ``BiobankRequest``: a data ingester asks for a biobank; an admin approves (the biobank is created,
  the requester manages it) or declines with a reason. Replaces the real node's helpdesk ticket.
- ``OidcIdentity``: links an issuer's subject (``iss`` + ``sub``) to a node user made just in time.
  Users are never matched by name, so an IdP account called "admin" does not become the local admin.
- ``OidcMembership``: which biobank manager rows came from token claims, so a claim that disappears
  removes exactly the right it granted and leaves rights an admin gave by hand alone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eucaim.node.models import Base, Biobank, User, UtcDateTime, utcnow


class RequestStatus(StrEnum):
    """Where a biobank request stands; only ``pending`` ones can be decided."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class BiobankRequest(Base):
    """A data ingester's request for a new biobank, and the admin's decision on it."""

    __tablename__ = "biobank_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[RequestStatus] = mapped_column(
        Enum(
            RequestStatus,
            name="biobank_request_status",
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
        ),
        default=RequestStatus.PENDING,
    )
    reason: Mapped[str | None] = mapped_column(Text)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    biobank_id: Mapped[int | None] = mapped_column(ForeignKey("biobanks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    biobank: Mapped[Biobank | None] = relationship()


class OidcIdentity(Base):
    """One subject of one issuer, bound to the node user created at its first request."""

    __tablename__ = "oidc_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class OidcMembership(Base):
    """A biobank manager row that exists because the user's token claims grant it."""

    __tablename__ = "oidc_memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    biobank_id: Mapped[int] = mapped_column(ForeignKey("biobanks.id", ondelete="CASCADE"), primary_key=True)
