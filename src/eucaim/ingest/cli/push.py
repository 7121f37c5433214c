"""`eucaim-ingest push`: de-identify, upload and verify everything indexed; rerun to continue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eucaim.ingest.cli.app import WorkspaceOption, app, console, err_console, resolve_workspace_path

if TYPE_CHECKING:
    from eucaim.ingest.pipeline.report import PushSummary
    from eucaim.ingest.pipeline.runner import PushOptions
    from eucaim.ingest.workspace import Workspace


def run_push(ws: Workspace, options: PushOptions | None = None, max_rate: float | None = None) -> PushSummary:
    from eucaim.ingest.cli.progress import PipelineProgress
    from eucaim.ingest.pipeline.runner import options_from, push
    from eucaim.ingest.targets import build_target

    target = build_target(ws, max_rate_mb_s=max_rate)
    try:
        with PipelineProgress(console) as progress:
            summary = push(ws, target, options or options_from(ws), on_event=progress.handle)
    finally:
        target.close()
    print_push_summary(summary)
    return summary


def print_push_summary(summary: PushSummary) -> None:
    from rich.table import Table

    if summary.nothing_to_do and summary.ok:
        console.print(
            f"nothing to do: all {summary.counts.get('verified', 0)} instances are already "
            "verified on the node"
        )
    table = Table(title="Transfer summary", show_header=True)
    table.add_column("")
    table.add_column("patients", justify="right")
    table.add_column("studies", justify="right")
    table.add_column("series", justify="right")
    table.add_column("instances", justify="right")
    table.add_column("MB", justify="right")
    t, v = summary.totals, summary.verified_totals
    for label, d in (("indexed", t), ("verified on node", v)):
        table.add_row(
            label,
            str(d.get("patients", 0)),
            str(d.get("studies", 0)),
            str(d.get("series", 0)),
            str(d.get("instances", 0)),
            f"{d.get('bytes', 0) / 1e6:.1f}",
        )
    console.print(table)
    console.print(
        f"this run: {summary.deidentified} de-identified, {summary.sent} sent, "
        f"{summary.verified_now + summary.already_on_node} verified "
        f"({summary.already_on_node} were already on the node), "
        f"{summary.quarantined_now + summary.refused} quarantined"
    )
    if summary.resend_selected:
        print_resend_summary(summary)
    if summary.scan_problems:
        console.print(f"{summary.scan_problems} files found by scan are not DICOM or are damaged")
    console.print(f"report: {summary.report_json}")
    if not summary.ok:
        err_console.print(f"[bold red]incomplete:[/] {summary.why_not_ok()}")
        if summary.counts.get("quarantined"):
            err_console.print("see the report for each quarantined instance and its reason")


def print_resend_summary(summary: PushSummary) -> None:
    """The ``--resend``/``--reverify`` lines: what was taken, re-sent, and why anything was not."""
    if summary.resend_unmatched:
        err_console.print("no verified instance matches " + ", ".join(summary.resend_unmatched), markup=False)
    line = f"re-sent: {summary.resent} of {summary.resend_reopened} instances"
    if summary.reverified:
        line += f" ({summary.reverified} of the {summary.resend_selected} checked are still on the node)"
    if summary.resend_deidentified_again:
        line += f"; {summary.resend_deidentified_again} de-identified again from the source"
    console.print(line, markup=False)
    for why, n in sorted(summary.resend_not_verified.items()):
        explain = _NOT_RESENT.get(why, "")
        err_console.print(f"not re-sent: {n} {why}{explain}", markup=False)


_NOT_RESENT = {
    "source_missing": " (the outbox copy and the source file are both gone: nothing left to send; "
    "restore the source file and run push again)",
    "source_changed": " (the source file or the workspace secret changed since it was verified)",
    "deidentified": " (still waiting: run push again to send it)",
    "pending": " (still waiting: run push again to send it)",
    "sent": " (acknowledged, not yet listed by the node: run push again to verify it)",
}


@app.command("push")
def push_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Folders to scan first (optional)")] = None,
    workspace: WorkspaceOption = None,
    max_rate: Annotated[
        float | None, typer.Option("--max-rate", help="Upload at most this many MB/s", min=0.01)
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Send only inside this daily window, e.g. 22:00-06:00 (local time)"),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="STOW requests in flight at once", min=1, max=16)
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="De-identification processes", min=1, max=64)
    ] = None,
    retry_quarantined: Annotated[
        bool,
        typer.Option("--retry-quarantined", help="Give quarantined instances another try first"),
    ] = False,
    batch_mb: Annotated[
        float | None, typer.Option("--batch-mb", help="Largest STOW request in MB", min=0.01)
    ] = None,
    resend: Annotated[
        bool,
        typer.Option(
            "--resend",
            help="Send verified instances again (the node lost them); needs --patient, --study, "
            "--series or --all",
        ),
    ] = False,
    reverify: Annotated[
        bool,
        typer.Option(
            "--reverify",
            help="Ask the node for the chosen verified instances and send again those it no longer "
            "lists; needs --patient, --study, --series or --all",
        ),
    ] = False,
    patients: Annotated[
        list[str],
        typer.Option(
            "--patient",
            "--subjects",
            help="With --resend/--reverify: pseudonym or original PatientID (repeatable, comma-separated)",
        ),
    ] = [],  # noqa: B006  (typer reads the default; it is never mutated)
    studies: Annotated[
        list[str],
        typer.Option(
            "--study",
            "--studies",
            help="With --resend/--reverify: original or de-identified StudyInstanceUID",
        ),
    ] = [],  # noqa: B006
    series: Annotated[
        list[str],
        typer.Option(
            "--series", help="With --resend/--reverify: original or de-identified SeriesInstanceUID"
        ),
    ] = [],  # noqa: B006
    everything: Annotated[
        bool, typer.Option("--all", help="With --resend/--reverify: every verified instance")
    ] = False,
) -> None:
    """De-identify, upload and verify; running it again continues and never duplicates."""
    from eucaim.errors import ConfigError
    from eucaim.ingest.cli.scan import run_scan
    from eucaim.ingest.pipeline.pacing import TimeWindow
    from eucaim.ingest.pipeline.resend import ResendScope
    from eucaim.ingest.pipeline.runner import options_from
    from eucaim.ingest.workspace import Workspace

    scope = None
    if resend and reverify:
        raise ConfigError(
            "choose --resend (send the chosen instances again) or --reverify (only those missing)"
        )
    if resend or reverify:
        scope = ResendScope.parse(
            patients=patients,
            studies=studies,
            series=series,
            everything=everything,
            option="--resend" if resend else "--reverify",
        )
    elif patients or studies or series or everything:
        raise ConfigError("--patient, --study, --series and --all choose what --resend or --reverify takes")
    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        options = options_from(
            ws,
            window=TimeWindow.parse(window) if window else None,
            concurrency=concurrency,
            workers=workers,
            batch_bytes=int(batch_mb * 1e6) if batch_mb else None,
            resend=scope,
            reverify=reverify or None,
        )
        if paths:
            run_scan(ws, paths)
        if retry_quarantined:
            console.print(f"{ws.state.requeue_quarantined()} quarantined instances will be tried again")
        summary = run_push(ws, options, max_rate)
    if not summary.ok:
        raise typer.Exit(1)
