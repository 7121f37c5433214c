"""`eucaim-ingest status`: where every instance of the workspace stands."""

from __future__ import annotations

from rich.table import Table

from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path
from eucaim.ingest.cli.scan import describe_problem
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace


@app.command()
def status(workspace: WorkspaceOption = None) -> None:
    """Show counts per state, totals, quarantined instances and unusable files."""
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
