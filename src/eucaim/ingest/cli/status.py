"""`eucaim-ingest status`: where every instance of the workspace stands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path
from eucaim.ingest.cli.scan import describe_problem

if TYPE_CHECKING:
    from eucaim.ingest.workspace import Workspace


@app.command()
def status(
    workspace: WorkspaceOption = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Also break counts down per 'patient' or 'study'")
    ] = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="With --by, show original IDs next to the pseudonyms")
    ] = False,
) -> None:
    """Show counts per state, totals, quarantined instances and unusable files."""
    from eucaim.ingest.state.states import InstanceState
    from eucaim.ingest.workspace import Workspace

    if by not in (None, "patient", "study"):
        raise ConfigError(f"--by takes 'patient' or 'study', not {by!r}")
    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        node = ws.config.node
        console.print(f"workspace {ws.path} → {node.url} biobank {node.biobank}")
        totals = ws.state.totals()
        console.print(
            f"indexed: {totals['patients']} patients, {totals['studies']} studies, "
            f"{totals['series']} series, {totals['instances']} instances "
            f"({totals['bytes'] / 1e6:.1f} MB)"
        )
        table = Table(title="Instances by state")
        table.add_column("state")
        table.add_column("instances", justify="right")
        for state, n in ws.state.counts_by_state().items():
            table.add_row(state.value, str(n))
        console.print(table)
        if by:
            print_groups(ws, by, reveal=reveal)
        quarantined = ws.state.instances([InstanceState.QUARANTINED])
        if quarantined:
            console.print(f"[bold]{len(quarantined)} instances are quarantined (not sent):[/]")
            for row in quarantined[:100]:
                text = describe_problem(row.path, row.last_error or "")
                console.print(f"  [red]{row.reason or '':<17}[/] {text}", soft_wrap=True)
        problems = ws.state.scan_problems()
        if problems:
            console.print(f"[bold]{len(problems)} files are not usable DICOM:[/]")
            for path, reason, detail in problems[:100]:
                console.print(f"  [red]{reason:<17}[/] {describe_problem(path, detail)}", soft_wrap=True)


def print_groups(ws: Workspace, level: str, *, reveal: bool) -> None:
    from eucaim.ingest.state.states import InstanceState

    table = Table(title=f"Instances per {level}")
    table.add_column("pseudonym" if level == "patient" else "de-identified study UID", no_wrap=True)
    if reveal:
        table.add_column("original (stays on site)", no_wrap=True)
    for state in InstanceState:
        table.add_column(state.value[:6], justify="right")
    for original, out, counts in ws.state.counts_by_group(level):
        cells = [out or "(not yet de-identified)"]
        if reveal:
            cells.append(original)
        table.add_row(*cells, *(str(counts[s]) for s in InstanceState))
    console.print(table)
