"""`eucaim-ingest scan`: index source folders into the workspace and report unusable files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

if TYPE_CHECKING:
    from eucaim.ingest.scanner import ScanSummary
    from eucaim.ingest.workspace import Workspace


def run_scan(ws: Workspace, paths: list[Path]) -> ScanSummary:
    """Scan with a live counter, then print what was found."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from eucaim.ingest.scanner import scan_paths

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("scanning", total=None)
        counter = {"n": 0}

        def on_file(_: Path, __: str) -> None:
            counter["n"] += 1
            progress.update(task, description=f"scanning: {counter['n']} files")

        summary = scan_paths(ws.state, paths, on_file=on_file)
    print_scan_summary(summary)
    return summary


def print_scan_summary(summary: ScanSummary) -> None:
    console.print(
        f"scanned {summary.files} files: [green]{summary.new} new[/], {summary.unchanged} unchanged, "
        f"{summary.updated} changed, {summary.duplicates} duplicate copies, "
        f"[{'red' if summary.problems else 'green'}]{len(summary.problems)} not usable[/]"
    )
    if summary.problems:
        console.print("[bold]files that will not be sent:[/]")
        for path, reason, detail in summary.problems[:100]:
            console.print(f"  [red]{reason:<17}[/] {describe_problem(path, detail)}", soft_wrap=True)
        if len(summary.problems) > 100:
            console.print(f"  ... and {len(summary.problems) - 100} more (see `eucaim-ingest status`)")


def describe_problem(path: str, detail: str) -> str:
    """``path: detail``, the path relative to the current folder when below it."""
    shown = path
    try:
        shown = str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        pass
    return f"{shown}: {detail}"


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index")],
    workspace: WorkspaceOption = None,
) -> None:
    """Index DICOM files below PATHS; unusable files are listed with the reason."""
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        run_scan(ws, paths)
        totals = ws.state.totals()
        console.print(
            f"workspace holds {totals['patients']} patients, {totals['studies']} studies, "
            f"{totals['series']} series, {totals['instances']} instances "
            f"({totals['bytes'] / 1e6:.1f} MB)"
        )
