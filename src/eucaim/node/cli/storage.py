"""Sessions for one CLI command: the schema is brought up to date first when it is embedded SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from eucaim.node.db import make_engine, make_session_factory
from eucaim.node.migration import upgrade_database
from eucaim.node.settings import Settings


@contextmanager
def open_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Yield a session factory on the node's database, disposing the engine afterwards."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        if settings.is_sqlite:
            upgrade_database(engine)
        yield make_session_factory(engine)
    finally:
        engine.dispose()
