"""`eucaim-ingest status`: where every instance of the workspace stands."""

from __future__ import annotations

from rich.table import Table

from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path
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
            q = Table(title="Quarantined (not sent)")
            q.add_column("file")
            q.add_column("reason")
            q.add_column("detail")
            for row in quarantined[:100]:
                q.add_row(row.path, row.reason or "", row.last_error or "")
            console.print(q)
        problems = ws.state.scan_problems()
        if problems:
            p = Table(title="Files that are not usable DICOM")
            p.add_column("file")
            p.add_column("reason")
            for path, reason, _ in problems[:100]:
                p.add_row(path, reason)
            console.print(p)
