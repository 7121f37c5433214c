"""clinical records: per-biobank clinical settings and append-only record versions

Revision ID: 0002_clinical
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_clinical"
down_revision = "0001"
branch_labels = ("clinical",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "biobank_clinical_settings",
        sa.Column("biobank_id", sa.Integer(), nullable=False),
        sa.Column("allow_clinical_only", sa.Boolean(), nullable=False),
        sa.Column("schema_extension", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["biobank_id"],
            ["biobanks.id"],
            name=op.f("fk_biobank_clinical_settings_biobank_id_biobanks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("biobank_id", name=op.f("pk_biobank_clinical_settings")),
    )
    op.create_table(
        "clinical_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biobank_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["biobank_id"],
            ["biobanks.id"],
            name=op.f("fk_clinical_records_biobank_id_biobanks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_clinical_records_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinical_records")),
        sa.UniqueConstraint("biobank_id", "subject", "version", name=op.f("uq_clinical_records_biobank_id")),
    )
    op.create_index(
        "ix_clinical_records_biobank_subject", "clinical_records", ["biobank_id", "subject"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_clinical_records_biobank_subject", table_name="clinical_records")
    op.drop_table("clinical_records")
    op.drop_table("biobank_clinical_settings")
