"""Alembic environment: migrate through the engine that eucaim.node.migration hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import eucaim.node.models_accounts  # noqa: F401  (registers the account tables on Base.metadata)
import eucaim.node.models_clinical  # noqa: F401  (registers the clinical tables on Base.metadata)
import eucaim.node.models_datasets  # noqa: F401  (registers the dataset tables on Base.metadata)
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
