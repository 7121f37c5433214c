"""Sessions for one CLI command, and ``eucaim-node store migrate`` (copy objects between stores, as a job).

The schema is brought up to date first when the database is embedded SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from eucaim.errors import EucaimError
from eucaim.node.cli.app import DataOption, app, console, err_console, load_settings
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


store_app = typer.Typer(help="Manage the node's image store.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("migrate")
def migrate(
    source: Annotated[str, typer.Option("--from", help="Store to copy from: fs, s3 or dicomweb.")],
    target: Annotated[str, typer.Option("--to", help="Store to copy to: fs, s3 or dicomweb.")],
    data: DataOption = None,
    restart: Annotated[bool, typer.Option("--restart", help="Forget saved progress; verify all.")] = False,
    queue: Annotated[
        bool,
        typer.Option("--queue", help="Hand the job to the workers (PostgreSQL) instead of running it here."),
    ] = False,
) -> None:
    """Copy every indexed object to another store, verified by sha256; resumable after a kill.

    Runs here, with a progress bar, as a durable job: a killed run (this command, or a worker that
    had it) resumes where it stopped when the command runs again. With --queue (PostgreSQL) the job
    goes to the workers instead; follow it with `eucaim-node job show ID`. Both stores are
    configured as for serving (EUCAIM_NODE_STORE_DIR, EUCAIM_NODE_S3_*, EUCAIM_NODE_DICOMWEB_STORE_*).
    The node keeps using its configured store: when the summary says the migration is complete,
    stop the workers, run the command once more, set EUCAIM_NODE_STORE to the target and start
    them again.
    """
    import time
    from datetime import UTC, datetime

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from eucaim.errors import ConfigError
    from eucaim.node.context import build_context
    from eucaim.node.jobs.migration import request_migration
    from eucaim.node.jobs.models import JobStatus
    from eucaim.node.jobs.run import run_node_job
    from eucaim.node.store.factory import build_store, store_kind
    from eucaim.node.store.migrate import ObjectCopied, count_objects

    settings = load_settings(data)
    from_kind, to_kind = store_kind(source), store_kind(target)
    if from_kind == to_kind:
        raise typer.BadParameter("--from and --to name the same store", param_hint="--to")
    if queue and settings.is_sqlite:
        raise ConfigError(
            "--queue needs a PostgreSQL database (EUCAIM_NODE_DATABASE_URL)",
            hint="an embedded SQLite node has no workers; run the command without --queue",
        )
    build_store(settings, from_kind), build_store(settings, to_kind)  # a missing setting fails here
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    context = build_context(settings)
    try:
        if settings.is_sqlite:
            upgrade_database(context.engine)
        job = request_migration(
            context,
            source=from_kind,
            target=to_kind,
            requested_by="eucaim-node store migrate",
            now=datetime.now(UTC),
            restart=restart,
        )
        if queue:
            from eucaim.node.jobs.queue import QueueJobRunner

            runner = QueueJobRunner(context)
            try:
                runner.submit_job(job)
            finally:
                runner.close()
            console.print(f"migration job {job.id} queued: follow it with `eucaim-node job show {job.id}`")
            return
        total = count_objects(context.sessions)
        started = time.monotonic()
        columns = (TextColumn("migrating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console, transient=True) as progress:
            done = int(job.state.get("copied", 0)) + int(job.state.get("present", 0))
            task = progress.add_task("objects", total=total, completed=done)

            def advance(event: ObjectCopied) -> None:
                if event.outcome != "failed":
                    progress.advance(task)

            ended = run_node_job(context, job.id, on_object=advance)
    finally:
        context.engine.dispose()
    state = ended.state
    failed: dict[str, str] = state.get("failed") or {}
    if ended.status is JobStatus.ERROR and not failed:
        raise EucaimError(f"the migration job {ended.id} failed: {ended.message}")
    console.print(
        f"{state.get('copied', 0)} object(s) copied ({state.get('bytes', 0)} bytes), "
        f"{state.get('present', 0)} already in {to_kind}, {len(failed)} failed, of {total} indexed, "
        f"in {time.monotonic() - started:.1f} s"
    )
    for instance_id, reason in sorted(failed.items(), key=lambda item: int(item[0])):
        err_console.print(f"instance row {instance_id}: {reason}", markup=False)
    if ended.status is not JobStatus.FINISHED:
        err_console.print("migration incomplete: fix the failures above and run the command again")
        raise typer.Exit(1)
    console.print(
        f"migration complete: stop the workers, run this once more, then set EUCAIM_NODE_STORE={to_kind}"
    )


@store_app.command("gc")
def gc(
    data: DataOption = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete the orphans (default: only list them).")
    ] = False,
    min_age_hours: Annotated[
        float,
        typer.Option("--min-age-hours", help="Leave orphans younger than this (a STOW may be in flight)."),
    ] = 24.0,
) -> None:
    """List objects in the configured store that no index row references; --delete removes them.

    Such objects are what crashes leave (a STOW killed between its object and its row). The
    index is checked again around each delete, and an object that got its row meanwhile is put
    back; a STOW re-sending it at that moment writes it again itself (see the operator guide).
    """
    import time

    from eucaim.node.store.factory import build_store
    from eucaim.node.store.gc import delete_orphans, find_orphans

    settings = load_settings(data)
    store = build_store(settings)
    with open_sessions(settings) as sessions:
        report = find_orphans(sessions, store, now=time.time(), min_age_s=max(min_age_hours, 0.0) * 3600)
        for obj in report.orphans:
            console.print(f"orphan {obj.key} ({obj.size} bytes)", markup=False)
        if delete:
            delete_orphans(sessions, store, report, tmp_dir=settings.tmp_dir)
    console.print(
        f"{report.scanned} object(s) in the store, {len(report.orphans)} orphan(s) of "
        f"{report.orphan_bytes} bytes, {report.young} younger orphan(s) left alone"
    )
    if delete:
        console.print(
            f"{report.deleted} deleted, {report.kept_for_new_rows} kept (indexed during the collection)"
        )
    elif report.orphans:
        console.print("nothing deleted (dry run): run again with --delete to remove them")
