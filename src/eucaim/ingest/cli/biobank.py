"""`eucaim-ingest biobank request|requests`: ask the node for a biobank, and follow the answer."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

biobank_app = typer.Typer(help="Ask the node for a biobank and follow your requests.", no_args_is_help=True)
app.add_typer(biobank_app, name="biobank")


@biobank_app.command("request")
def request(
    code: Annotated[str, typer.Option("--code", help="Code for URLs: letters, digits, - and _")],
    name: Annotated[str, typer.Option("--name", help="Human-readable name")],
    description: Annotated[str, typer.Option("--description", help="What the collection holds")] = "",
    url: Annotated[str | None, typer.Option("--url", help="Web page of the collection, if any")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Ask for a new biobank; an admin of the node approves (you become its manager) or declines."""
    from eucaim.ingest.biobank_requests import ask_for_biobank

    asked = ask_for_biobank(
        resolve_workspace_path(workspace), code=code, name=name, description=description, url=url
    )
    console.print(f"request {asked['id']} for biobank {asked['code']} is {asked['status']}", markup=False)
    console.print("see its answer with: eucaim-ingest biobank requests", markup=False)


@biobank_app.command("requests")
def requests(workspace: WorkspaceOption = None) -> None:
    """Show your biobank requests and their answers (with the reason of a decline)."""
    from eucaim.ingest.biobank_requests import answer_of, my_biobank_requests

    mine = my_biobank_requests(resolve_workspace_path(workspace)).requests
    if not mine:
        console.print("no biobank requests yet; ask with: eucaim-ingest biobank request --code C --name N")
        return
    table = Table(box=None)
    for column in ("id", "code", "name", "status", "asked", "answer"):
        # Fold rather than cut: a listing must show every URL and reason in full, at any width.
        table.add_column(column, overflow="fold")
    for item in mine:
        table.add_row(
            str(item["id"]),
            item["code"],
            item["name"],
            item["status"],
            item["created_at"][:16],
            answer_of(item),
        )
    console.print(table)
