"""``eucaim-node job``: list node jobs and show one (aggregation, store migration)."""

from __future__ import annotations

from typing import Annotated

import typer

from eucaim.node.cli.app import DataOption, app, console, load_settings

job_app = typer.Typer(
    help="Follow the node's long jobs (aggregation, store migration).", no_args_is_help=True
)
app.add_typer(job_app, name="job")


@job_app.command("list")
def list_command(
    data: DataOption = None,
    limit: Annotated[int, typer.Option(help="How many of the newest jobs.")] = 20,
) -> None:
    """List the newest jobs: id, kind, subject, status, progress, message."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.jobs.records import list_jobs

    with open_sessions(load_settings(data)) as sessions:
        jobs = list_jobs(sessions, limit=max(1, limit))
    if not jobs:
        console.print("no jobs")
    for job in jobs:
        console.print(
            f"{job.id}  {job.kind.value:<16} {job.subject:<36} {job.status.value:<8} "
            f"{job.progress:>4.0%}  {job.message}",
            markup=False,
        )


@job_app.command("show")
def show_command(
    job_id: Annotated[str, typer.Argument(help="The job's id.")], data: DataOption = None
) -> None:
    """Show one job as JSON (exit 1 when it ended in error)."""
    import json

    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.jobs.models import JobStatus
    from eucaim.node.jobs.records import get_job, job_view

    with open_sessions(load_settings(data)) as sessions:
        job = get_job(sessions, job_id)
    console.print(json.dumps(job_view(job), indent=2), markup=False)
    if job.status is JobStatus.ERROR:
        raise typer.Exit(1)
