"""``eucaim-node worker``: work the job queue without serving HTTP (PostgreSQL deployments)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from eucaim.node.cli.app import DataOption, app, err_console, load_settings


@app.command()
def worker(
    data: DataOption = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="One JSON object a log line.")] = False,
) -> None:
    """Run queued jobs (dataset creation, aggregation, store migration) until SIGTERM or Ctrl-C.

    Any number of workers, on any hosts, may share the node's PostgreSQL database (and its image
    store); a job whose worker dies is taken up by another. Needs EUCAIM_NODE_DATABASE_URL, the
    store settings of `serve`, and the schema of `eucaim-node db upgrade`.
    """
    import asyncio
    import signal

    from eucaim.errors import ConfigError
    from eucaim.node.context import build_context
    from eucaim.node.jobs.schema import ensure_queue_schema
    from eucaim.node.jobs.worker import work_queue
    from eucaim.node.migration import current_revision, head_revision

    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    if json_logs:
        from eucaim.node.observability.logging import configure_json_logging

        configure_json_logging(logging.getLogger().level)
    settings = load_settings(data)
    if settings.is_sqlite:
        raise ConfigError(
            "eucaim-node worker needs a PostgreSQL database (EUCAIM_NODE_DATABASE_URL)",
            hint="an embedded SQLite node runs its jobs inside `eucaim-node serve`",
        )
    context = build_context(settings)
    try:
        if current_revision(context.engine) != head_revision():
            raise ConfigError(
                "the database schema is not the one this version needs",
                hint="run `eucaim-node db upgrade` first",
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        ensure_queue_schema(settings.resolved_database_url)

        async def run() -> None:
            task = asyncio.create_task(work_queue(context), name="eucaim-job-queue")
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                pass

        err_console.print(f"eucaim-node worker: working the job queue of {context.engine.url.database}")
        asyncio.run(run())
    finally:
        context.engine.dispose()
    err_console.print("eucaim-node worker stopped")
