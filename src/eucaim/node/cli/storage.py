"""Sessions for one CLI command, and ``eucaim-node store migrate`` (copy objects between stores).

The schema is brought up to date first when the database is embedded SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

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
) -> None:
    """Copy every indexed object to another store, verified by sha256; resumable after a kill.

    Both stores are configured as for serving (EUCAIM_NODE_STORE_DIR, EUCAIM_NODE_S3_*,
    EUCAIM_NODE_DICOMWEB_STORE_*). The node keeps using its configured store: when the summary says
    the migration is complete, stop the workers, run the command once more, set EUCAIM_NODE_STORE
    to the target and start them again.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from eucaim.node.store.factory import build_store, store_kind
    from eucaim.node.store.migrate import (
        MigrationState,
        ObjectCopied,
        count_objects,
        migrate_objects,
        state_path,
    )

    settings = load_settings(data)
    from_kind, to_kind = store_kind(source), store_kind(target)
    if from_kind == to_kind:
        raise typer.BadParameter("--from and --to name the same store", param_hint="--to")
    state_file = state_path(settings.data_dir, from_kind, to_kind)
    with open_sessions(settings) as factory:
        state = MigrationState.load(state_file, source=from_kind, target=to_kind)
        if restart:
            state = MigrationState(source=from_kind, target=to_kind)
        total = count_objects(factory)
        columns = (TextColumn("migrating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task("objects", total=total, completed=state.copied + state.present)

            def advance(event: ObjectCopied) -> None:
                if event.outcome != "failed":
                    progress.advance(task)

            summary = migrate_objects(
                factory=factory,
                source=build_store(settings, from_kind),
                target=build_store(settings, to_kind),
                state=state,
                state_file=state_file,
                tmp_dir=settings.tmp_dir,
                on_object=advance,
            )
    console.print(
        f"{summary.copied} object(s) copied ({summary.bytes} bytes), {summary.present} already in "
        f"{to_kind}, {len(summary.failed)} failed, of {summary.total} indexed, in {summary.seconds:.1f} s"
    )
    for instance_id, reason in sorted(summary.failed.items(), key=lambda item: int(item[0])):
        err_console.print(f"instance row {instance_id}: {reason}", markup=False)
    if not summary.is_complete:
        err_console.print("migration incomplete: fix the failures above and run the command again")
        raise typer.Exit(1)
    console.print(
        f"migration complete: stop the workers, run this once more, then set EUCAIM_NODE_STORE={to_kind}"
    )
