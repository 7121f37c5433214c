"""datasets: datasets, frozen series lists, creation jobs, hash-chained audit log

Revision ID: 0003_datasets
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_datasets"
down_revision = "0001"
branch_labels = ("datasets",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("biobank_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_before_invalidation", sa.String(length=16), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("previous_id", sa.String(length=36), nullable=True),
        sa.Column("draft_of", sa.String(length=36), nullable=True),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("aggregates", sa.JSON(), nullable=True),
        sa.Column("aggregated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=512), nullable=True),
        sa.Column("invalidation_reason", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["biobank_id"],
            ["biobanks.id"],
            name=op.f("fk_datasets_biobank_id_biobanks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_datasets_author_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["datasets.id"],
            name=op.f("fk_datasets_previous_id_datasets"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("draft_of", name=op.f("uq_datasets_draft_of")),
    )
    op.create_index(op.f("ix_datasets_biobank_id"), "datasets", ["biobank_id"], unique=False)
    op.create_index(op.f("ix_datasets_author_id"), "datasets", ["author_id"], unique=False)
    op.create_index(op.f("ix_datasets_state"), "datasets", ["state"], unique=False)

    op.create_table(
        "dataset_series",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_series_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_dataset_series_series_id_series"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "series_id", name=op.f("pk_dataset_series")),
    )
    op.create_index(op.f("ix_dataset_series_series_id"), "dataset_series", ["series_id"], unique=False)

    op.create_table(
        "dataset_jobs",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=1024), nullable=False),
        sa.Column("series_total", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_jobs_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_dataset_jobs")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    op.create_index(op.f("ix_audit_log_dataset_id"), "audit_log", ["dataset_id"], unique=False)
    _refuse_audit_changes()


# The audit log is append-only in the database itself: UPDATE and DELETE raise. Someone with the
# rights to drop these triggers can still edit it; the hash chain then shows where.
_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_log_no_{verb} BEFORE {verb.upper()} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for verb in ("update", "delete")
]
_PG_FUNCTION = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
)
_PG_TRIGGERS = [
    f"CREATE TRIGGER audit_log_no_{verb} BEFORE {verb.upper()} ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    for verb in ("update", "delete")
]


def _refuse_audit_changes() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}" + (" ON audit_log" if _is_pg() else ""))
    if _is_pg():
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index(op.f("ix_audit_log_dataset_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("dataset_jobs")
    op.drop_index(op.f("ix_dataset_series_series_id"), table_name="dataset_series")
    op.drop_table("dataset_series")
    op.drop_index(op.f("ix_datasets_state"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_author_id"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_biobank_id"), table_name="datasets")
    op.drop_table("datasets")


def _is_pg() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")
