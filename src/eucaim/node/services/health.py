"""Health: is the database reachable and at the schema the code expects, and is the store writable."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from eucaim.errors import EucaimError
from eucaim.node.migration import current_revision, head_revision
from eucaim.node.store import ImageStore


@dataclass(frozen=True)
class HealthReport:
    """One verdict per dependency; ``ok`` when all are fine."""

    database: str
    store: str

    @property
    def ok(self) -> bool:
        """Return True when every dependency answered "ok"."""
        return self.database == "ok" and self.store == "ok"


def check_health(*, engine: Engine, store: ImageStore) -> HealthReport:
    """Probe the database and the store; never raises."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
        database = (
            "ok" if revision == head_revision() else f"schema at {revision}, run `eucaim-node db upgrade`"
        )
    except SQLAlchemyError as exc:
        database = f"unreachable: {type(exc).__name__}"
    try:
        store.check()
        store_state = "ok"
    except (EucaimError, OSError) as exc:
        store_state = f"failing: {exc}"
    return HealthReport(database=database, store=store_state)
