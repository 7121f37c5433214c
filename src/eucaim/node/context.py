"""What one node process shares between requests: settings, database engine, sessions, image store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from eucaim.node.db import make_engine, make_session_factory
from eucaim.node.settings import Settings
from eucaim.node.store import ImageStore
from eucaim.node.store.factory import build_store


@dataclass(frozen=True)
class NodeContext:
    """Built once per process by :func:`build_context`; routes reach it through ``app.state.node``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ImageStore


def build_context(settings: Settings) -> NodeContext:
    """Create the engine, session factory and store the settings describe (no I/O yet)."""
    engine = make_engine(settings.resolved_database_url)
    return NodeContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        store=build_store(settings),
    )
