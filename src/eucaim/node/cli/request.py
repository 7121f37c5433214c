"""``eucaim-node request``: list biobank requests, approve them (the biobank is made) or decline them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from eucaim.node.cli.app import DataOption, app, console, load_settings
from eucaim.node.models_accounts import RequestStatus

request_app = typer.Typer(help="Decide biobank requests from data ingesters.", no_args_is_help=True)
app.add_typer(request_app, name="request")


@request_app.command("list")
def list_(
    status: Annotated[
        RequestStatus | None, typer.Option("--status", help="Only requests in this state.")
    ] = None,
    data: DataOption = None,
) -> None:
    """List biobank requests, oldest first."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.biobank_requests import list_requests

    with open_sessions(load_settings(data)) as sessions, session_scope(sessions) as session:
        views = list_requests(session, viewer_id=None, status=status)
    table = Table(box=None)
    for column in ("id", "code", "name", "requester", "status", "created", "url / reason"):
        # Fold rather than cut: a listing must show every URL and reason in full, at any width.
        table.add_column(column, overflow="fold")
    for view in views:
        table.add_row(
            str(view.id),
            view.code,
            view.name,
            view.requester,
            view.status.value,
            view.created_at.strftime("%Y-%m-%d %H:%M"),
            view.reason or view.url or "",
        )
    console.print(table)


@request_app.command("approve")
def approve(
    request_id: Annotated[int, typer.Argument(metavar="ID", help="Request id (see `request list`).")],
    data: DataOption = None,
) -> None:
    """Approve a pending request: create the biobank with the requester as its manager."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.biobank_requests import approve_request

    with open_sessions(load_settings(data)) as sessions, session_scope(sessions) as session:
        view = approve_request(session, decider_id=None, request_id=request_id, now=datetime.now(UTC))
    console.print(f"approved request {view.id}: biobank {view.code} created, managed by {view.requester}")
    console.print(f"DICOMweb root: /biobanks/{view.code}/dicom-web", markup=False)


@request_app.command("decline")
def decline(
    request_id: Annotated[int, typer.Argument(metavar="ID", help="Request id (see `request list`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why; the requester reads it.")],
    data: DataOption = None,
) -> None:
    """Decline a pending request with a reason."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.biobank_requests import decline_request

    with open_sessions(load_settings(data)) as sessions, session_scope(sessions) as session:
        view = decline_request(
            session, decider_id=None, request_id=request_id, reason=reason, now=datetime.now(UTC)
        )
    console.print(f"declined request {view.id} ({view.code}) of {view.requester}", markup=False)
