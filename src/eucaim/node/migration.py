"""Schema migrations run from code: Alembic with a programmatic config, no alembic.ini needed."""

from __future__ import annotations

import functools
import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = "eucaim.node:migrations"


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config that migrates through ``engine``'s connections."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> str:
    """Bring the database schema to the newest revision; return that revision."""
    config = alembic_config(engine)
    command.upgrade(config, "head")
    revision = current_revision(engine)
    logger.info("database schema at revision %s", revision)
    return revision or ""


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str:
    """Return the newest revision the code knows."""
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    head = script.get_current_head()
    assert head is not None
    return head


def alembic_config_without_engine() -> Config:
    """Return a config for reading the migration scripts only."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config
