"""jobs: the node_jobs table (aggregation and store migration jobs, run from the queue)

Revision ID: 0005_jobs
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_jobs"
down_revision = "0001"
branch_labels = ("jobs",)
depends_on = None

_UNFINISHED = sa.text("finished_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "node_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_jobs")),
    )
    op.create_index(op.f("ix_node_jobs_subject"), "node_jobs", ["subject"], unique=False)
    op.create_index(op.f("ix_node_jobs_status"), "node_jobs", ["status"], unique=False)
    op.create_index(
        "uq_node_jobs_one_unfinished",
        "node_jobs",
        ["kind", "subject"],
        unique=True,
        sqlite_where=_UNFINISHED,
        postgresql_where=_UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("uq_node_jobs_one_unfinished", table_name="node_jobs")
    op.drop_index(op.f("ix_node_jobs_status"), table_name="node_jobs")
    op.drop_index(op.f("ix_node_jobs_subject"), table_name="node_jobs")
    op.drop_table("node_jobs")
