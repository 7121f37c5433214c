"""The node's clinical tables: per-biobank clinical settings and the append-only record versions.

A subject's clinical record is never updated in place: each accepted change is a new row with the
next version number, so the history is the table itself. The unique constraint on
(biobank, subject, version) is what keeps two concurrent writers from both claiming the same next
version; the loser retries on top of the winner's row (see ``services/clinical.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eucaim.node.models import Base, UtcDateTime, utcnow


class BiobankClinicalSettings(Base):
    """How a biobank takes clinical data; a biobank without a row uses the defaults.

    Kept beside ``biobanks`` rather than in it, so the clinical feature owns its own migration.
    """

    __tablename__ = "biobank_clinical_settings"

    biobank_id: Mapped[int] = mapped_column(ForeignKey("biobanks.id", ondelete="CASCADE"), primary_key=True)
    # Subjects with no study in the biobank are refused unless this is set ("clinical-only" cohorts).
    allow_clinical_only: Mapped[bool] = mapped_column(default=False)
    # A schema extension document (eucaim.clinical.schema.extend_schema format) as JSON text.
    schema_extension: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ClinicalRecordVersion(Base):
    """One version of one subject's clinical record (the JSON document as received, canonical form)."""

    __tablename__ = "clinical_records"
    __table_args__ = (
        UniqueConstraint("biobank_id", "subject", "version"),
        Index("ix_clinical_records_biobank_subject", "biobank_id", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    biobank_id: Mapped[int] = mapped_column(ForeignKey("biobanks.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(64))  # the pseudonym, equal to the studies' PatientID
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
