"""`eucaim-ingest doctor`: a checklist of everything a transfer needs, with a fix per failing line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

if TYPE_CHECKING:
    from eucaim.ingest.doctor import Check

MARKS = {
    "ok": "[green]✓[/]",
    "warning": "[yellow]![/]",
    "skipped": "[dim]–[/]",
    "failed": "[red]✗[/]",
}


def print_check(check: Check) -> None:
    # Details quote URLs, paths and server messages: escape them so rich prints "[...]" as is.
    console.print(f"{MARKS[check.status]} [bold]{check.name}[/]: {escape(check.detail)}", soft_wrap=True)
    if check.hint and check.status in ("failed", "warning"):
        console.print(f"    → {escape(check.hint)}", soft_wrap=True)


@app.command()
def doctor(workspace: WorkspaceOption = None) -> None:
    """Check the node, TLS, proxy, token and rights, the PACS, disk space, secret and profile."""
    from eucaim.ingest.doctor import run_checks

    path = resolve_workspace_path(workspace)
    with console.status("checking"):
        checks = run_checks(path)
    for check in checks:
        print_check(check)
    failed = [check for check in checks if not check.ok]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed[/]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(checks)} checks passed[/]")
