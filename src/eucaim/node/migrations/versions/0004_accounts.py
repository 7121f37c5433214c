"""accounts: token last use, biobank requests, OIDC identities and claim-made memberships

Revision ID: 0004_accounts
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_accounts"
down_revision = "0001"
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "biobank_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=True),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "declined", name="biobank_request_status", native_enum=False),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("biobank_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_biobank_requests_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_biobank_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["biobank_id"],
            ["biobanks.id"],
            name=op.f("fk_biobank_requests_biobank_id_biobanks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_biobank_requests")),
    )
    op.create_index(op.f("ix_biobank_requests_code"), "biobank_requests", ["code"], unique=False)
    op.create_index(
        op.f("ix_biobank_requests_requester_id"), "biobank_requests", ["requester_id"], unique=False
    )
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_identities")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_oidc_identities_issuer")),
        sa.UniqueConstraint("user_id", name=op.f("uq_oidc_identities_user_id")),
    )
    op.create_table(
        "oidc_memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("biobank_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["biobank_id"],
            ["biobanks.id"],
            name=op.f("fk_oidc_memberships_biobank_id_biobanks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "biobank_id", name=op.f("pk_oidc_memberships")),
    )


def downgrade() -> None:
    op.drop_table("oidc_memberships")
    op.drop_table("oidc_identities")
    op.drop_index(op.f("ix_biobank_requests_requester_id"), table_name="biobank_requests")
    op.drop_index(op.f("ix_biobank_requests_code"), table_name="biobank_requests")
    op.drop_table("biobank_requests")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
