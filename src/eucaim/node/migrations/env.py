"""Alembic environment: migrate through the engine that eucaim.node.migration hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

# Imported for their side effect: each feature area registers its tables on Base.metadata.
from eucaim.node import models_accounts, models_clinical, models_datasets  # noqa: F401
from eucaim.node.jobs import models as models_jobs  # noqa: F401
from eucaim.node.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through eucaim.node.migration.upgrade_database(engine)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables when a later migration needs it.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
