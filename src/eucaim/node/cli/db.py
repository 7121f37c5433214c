"""``eucaim-node db``: database schema management."""

from __future__ import annotations

import typer

from eucaim.node.cli.app import DataOption, app, console, load_settings

db_app = typer.Typer(help="Manage the node's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(data: DataOption = None) -> None:
    """Bring the database schema to the newest revision (any database, SQLite or PostgreSQL).

    On PostgreSQL the job queue's tables (schema eucaim_queue) are installed or upgraded as well.
    Idempotent: run it before starting new workers after every upgrade of eucaim.
    """
    from eucaim.node.db import make_engine
    from eucaim.node.migration import upgrade_database

    settings = load_settings(data)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        revision = upgrade_database(engine)
    finally:
        engine.dispose()
    console.print(f"database schema at revision {revision}")
    if settings.is_sqlite:
        return
    from eucaim.node.jobs.schema import upgrade_queue_schema

    report = upgrade_queue_schema(settings.resolved_database_url)
    if report.action == "installed":
        console.print(f"job queue schema installed (procrastinate {report.version})")
    elif report.action == "upgraded":
        console.print(
            f"job queue schema upgraded from procrastinate {report.previous} to {report.version} "
            f"({report.migrations} migration(s))"
        )
    else:
        console.print(f"job queue schema current (procrastinate {report.version})")
