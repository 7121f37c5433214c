"""Schema migrations run from code: Alembic with a programmatic config, no alembic.ini needed."""

from __future__ import annotations

import fcntl
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = "eucaim.node:migrations"


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config that migrates through ``engine``'s connections."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> str:
    """Bring the database schema to the newest revision; return that revision.

    Safe to call from several processes at once (workers starting together): they take turns.
    """
    config = alembic_config(engine)
    with _migration_lock(engine):
        command.upgrade(config, "heads")
    revision = current_revision(engine)
    logger.info("database schema at revision %s", revision)
    return revision or ""


# Feature areas (clinical records, accounts, datasets) may add migrations on branches of their
# own from a common base; the schema is current when every branch head is applied. A revision
# "name" here is the sorted heads joined by "+", so one branch reads like a plain revision id.


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return "+".join(sorted(heads)) or None


@functools.cache
def head_revision() -> str:
    """Return the newest revision the code knows (every branch head)."""
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    heads = script.get_heads()
    assert heads
    return "+".join(sorted(heads))


def alembic_config_without_engine() -> Config:
    """Return a config for reading the migration scripts only."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


# Any constant works; it only has to be the same in every process of this program.
_PG_LOCK_KEY = 0x65756361  # "euca"


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold a lock that serialises migrations across processes (file lock or advisory lock)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        with open(f"{url.database}.migrate-lock", "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    elif url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                connection.commit()
    else:
        yield
