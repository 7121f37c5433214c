"""``eucaim-node db upgrade`` installs and upgrades the job queue; ``worker`` refuses what it cannot run."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg
import pytest

from eucaim.node.jobs.schema import QUEUE_SCHEMA, conninfo, installed_version
from tests.integration.node_jobs.processes import node_env, run_node
from tests.support.postgres import PostgresServer


def _catalogue(database_url: str) -> dict[str, list[tuple[str, ...]]]:
    """Return the queue schema's tables and columns, functions and types: what the node relies on."""
    with psycopg.connect(conninfo(database_url)) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY 1, 2",
            (QUEUE_SCHEMA,),
        ).fetchall()
        functions = connection.execute(
            "SELECT p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s ORDER BY 1, 2",
            (QUEUE_SCHEMA,),
        ).fetchall()
        types = connection.execute(
            "SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_type t "
            "JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = %s GROUP BY 1 ORDER BY 1",
            (QUEUE_SCHEMA,),
        ).fetchall()
    return {"columns": columns, "functions": functions, "types": types}


def test_db_upgrade_installs_the_queue_once_on_a_fresh_database(
    postgres_database: str, tmp_path: Path
) -> None:
    env = node_env(postgres_database)
    first = run_node("db", "upgrade", "--data", str(tmp_path), env=env)
    assert first.returncode == 0, first.stderr
    assert f"job queue schema installed (procrastinate {installed_version()})" in first.stdout
    second = run_node("db", "upgrade", "--data", str(tmp_path), env=env)
    assert second.returncode == 0, second.stderr
    assert f"job queue schema current (procrastinate {installed_version()})" in second.stdout
    catalogue = _catalogue(postgres_database)
    assert ("procrastinate_jobs", "lock", "text", "YES") in catalogue["columns"]
    with psycopg.connect(conninfo(postgres_database)) as connection:
        public = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'procrastinate%%' "
            "AND table_schema <> %s",
            (QUEUE_SCHEMA,),
        ).fetchone()
    assert public == (0,)  # the node's own schema holds only the node's tables


def test_db_upgrade_brings_an_older_queue_schema_to_the_one_a_fresh_install_has(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    old, fresh = postgres.new_database(), postgres.new_database()
    try:
        # The queue as procrastinate 3.0.0 left it: its first schema and every migration up to 3.0.0.
        folder = resources.files("procrastinate.sql.migrations")
        names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".sql") and e.name < "03.00.99")
        with psycopg.connect(
            conninfo(old), options=f"-c search_path={QUEUE_SCHEMA}", autocommit=True
        ) as connection:
            connection.execute(f"CREATE SCHEMA {QUEUE_SCHEMA}")
            for name in names:
                connection.execute(folder.joinpath(name).read_text(encoding="utf-8").encode())
            connection.execute(f"COMMENT ON SCHEMA {QUEUE_SCHEMA} IS 'procrastinate 3.0.0'")
        upgraded = run_node("db", "upgrade", "--data", str(tmp_path / "a"), env=node_env(old))
        assert upgraded.returncode == 0, upgraded.stderr
        assert (
            f"job queue schema upgraded from procrastinate 3.0.0 to {installed_version()}" in upgraded.stdout
        )
        installed = run_node("db", "upgrade", "--data", str(tmp_path / "b"), env=node_env(fresh))
        assert installed.returncode == 0, installed.stderr
        assert _catalogue(old) == _catalogue(fresh)
        again = run_node("db", "upgrade", "--data", str(tmp_path / "a"), env=node_env(old))
        assert "job queue schema current" in again.stdout
    finally:
        postgres.drop_database(old)
        postgres.drop_database(fresh)


def test_worker_refuses_sqlite_and_a_schema_not_upgraded(postgres_database: str, tmp_path: Path) -> None:
    sqlite = node_env("sqlite:///" + str(tmp_path / "node.db"))
    refused = run_node("worker", "--data", str(tmp_path), env=sqlite)
    assert refused.returncode == 1
    assert "needs a PostgreSQL database" in refused.stderr and "inside `eucaim-node serve`" in refused.stderr
    stale = run_node("worker", "--data", str(tmp_path), env=node_env(postgres_database))
    assert stale.returncode == 1 and "run `eucaim-node db upgrade` first" in stale.stderr
    queued = run_node(
        "store", "migrate", "--from", "fs", "--to", "s3", "--queue", "--data", str(tmp_path), env=sqlite
    )
    assert queued.returncode == 1 and "--queue needs a PostgreSQL database" in queued.stderr


@pytest.mark.parametrize("command", [["worker", "--help"], ["serve", "--help"]])
def test_help_names_the_queue_options(command: list[str], tmp_path: Path) -> None:
    shown = run_node(*command, env=node_env("sqlite:///" + str(tmp_path / "node.db")))
    assert shown.returncode == 0
    assert ("--no-jobs" in shown.stdout) == (command[0] == "serve")
