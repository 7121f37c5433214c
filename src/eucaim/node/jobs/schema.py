"""The job queue's tables on PostgreSQL: install them, and upgrade them when procrastinate changes.

procrastinate keeps no record of which of its migrations a database has, so this module does:
the schema's comment names the procrastinate version that last installed or upgraded it (or, in
the middle of an upgrade, the last migration file applied). An upgrade applies, in order and each
in its own transaction (some add enum values the next one uses), the migration files procrastinate
ships after that point up to the installed version: pre and post migrations together, so stop the
workers first, as for any upgrade. An upgrade that failed half-way continues from its last file.

The tables live in their own PostgreSQL schema (``eucaim_queue``): the node's Alembic migrations,
and Alembic's comparison of models and database, see only the node's tables in the default schema.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import metadata, resources

import procrastinate
import psycopg
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

QUEUE_SCHEMA = "eucaim_queue"
SEARCH_PATH_OPTION = f"-c search_path={QUEUE_SCHEMA}"
# Any fixed 64-bit number: serialises schema installation between workers starting together.
_SCHEMA_LOCK_KEY = 0x6575636169_6D
_COMMENT_PREFIX = "procrastinate "
_MIGRATION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)_\d+_.*\.sql$")

Version = tuple[int, int, int]


@dataclass(frozen=True)
class QueueSchemaReport:
    """What :func:`upgrade_queue_schema` did: ``installed``, ``upgraded`` or ``current``."""

    action: str
    version: str
    previous: str | None = None
    migrations: int = 0


def conninfo(database_url: str) -> str:
    """Return the libpq connection string of a SQLAlchemy PostgreSQL URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def installed_version() -> str:
    """Return the version of the procrastinate package this node runs."""
    return metadata.version("procrastinate")


def _as_tuple(version: str) -> Version:
    parts = [int(m[0]) if (m := re.match(r"\d+", p)) else 0 for p in version.split(".")[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def _file_version(name: str) -> Version | None:
    match = _MIGRATION_NAME.match(name)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def pending_migrations(recorded: str, current: str) -> list[str]:
    """Return procrastinate's migration files after ``recorded`` up to version ``current``, in order.

    ``recorded`` is a version (``3.0.0``: applied through it) or a migration file name.
    """
    high = _as_tuple(current)
    names = sorted(
        entry.name
        for entry in resources.files("procrastinate.sql.migrations").iterdir()
        if (version := _file_version(entry.name)) is not None and version <= high
    )
    if recorded.endswith(".sql"):
        return [name for name in names if name > recorded]
    low = _as_tuple(recorded)
    return [name for name in names if (_file_version(name) or low) > low]


def _connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(conninfo(database_url), autocommit=False, options=SEARCH_PATH_OPTION)


def _recorded_version(connection: psycopg.Connection[tuple[object, ...]]) -> str | None:
    row = connection.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (QUEUE_SCHEMA,)
    ).fetchone()
    comment = str(row[0]) if row is not None and row[0] is not None else ""
    return comment.removeprefix(_COMMENT_PREFIX) if comment.startswith(_COMMENT_PREFIX) else None


def _record_version(connection: psycopg.Connection[tuple[object, ...]], version: str) -> None:
    # COMMENT takes no parameters; a version or a migration file name, reduced to safe characters.
    safe = re.sub(r"[^0-9A-Za-z._+-]", "", version)
    connection.execute(f"COMMENT ON SCHEMA {QUEUE_SCHEMA} IS '{_COMMENT_PREFIX}{safe}'".encode())


def _is_installed(connection: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = connection.execute(f"SELECT to_regclass('{QUEUE_SCHEMA}.procrastinate_jobs')").fetchone()
    return row is not None and row[0] is not None


def upgrade_queue_schema(database_url: str) -> QueueSchemaReport:
    """Install the queue's tables, or bring them to this procrastinate version; idempotent.

    A schema installed before versions were recorded is taken to be this version's (the node then
    ran only this one), and recorded as such.
    """
    current = installed_version()
    with _connect(database_url) as connection:
        connection.autocommit = True
        connection.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_KEY,))
        try:
            return _install_or_upgrade(connection, current)
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_KEY,))


def _install_or_upgrade(
    connection: psycopg.Connection[tuple[object, ...]], current: str
) -> QueueSchemaReport:
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA}")
    if not _is_installed(connection):
        schema = procrastinate.App(connector=procrastinate.SyncPsycopgConnector()).schema_manager
        with connection.transaction():
            connection.execute(schema.get_schema().encode())  # bytes: no %-placeholder parsing of the DDL
            _record_version(connection, current)
        logger.info("installed the job queue schema (procrastinate %s)", current)
        return QueueSchemaReport("installed", current)
    recorded = _recorded_version(connection) or current
    names = pending_migrations(recorded, current)
    folder = resources.files("procrastinate.sql.migrations")
    for name in names:
        with connection.transaction():
            connection.execute(folder.joinpath(name).read_text(encoding="utf-8").encode())
            _record_version(connection, name)
        logger.info("applied job queue migration %s", name)
    if recorded == current:
        return QueueSchemaReport("current", current)
    _record_version(connection, current)
    logger.info("upgraded the job queue schema from procrastinate %s to %s", recorded, current)
    return QueueSchemaReport("upgraded", current, previous=recorded, migrations=len(names))


def ensure_queue_schema(database_url: str) -> bool:
    """Install the queue's tables when absent (a worker starting); return True when it did.

    An existing schema is left as it is: upgrading it is the operator's ``eucaim-node db upgrade``.
    A schema older than this procrastinate is reported, so the log says what to run.
    """
    with _connect(database_url) as connection:
        installed = _is_installed(connection)
        recorded = _recorded_version(connection) if installed else None
    if not installed:
        return upgrade_queue_schema(database_url).action == "installed"
    if recorded is not None and pending_migrations(recorded, installed_version()):
        logger.warning(
            "the job queue schema is procrastinate %s, this node runs %s: run `eucaim-node db upgrade`",
            recorded,
            installed_version(),
        )
    return False
