"""``eucaim-node dataset``: validators and admins list, show, publish, reject, invalidate and reactivate.

Every command acts as a named node user (``--as NAME``): the same rights apply as over HTTP, and
the audit log records that user. There is no implicit superuser on the command line, so the log
always says who did what.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from eucaim.node.cli.app import DataOption, app, console, load_settings

dataset_app = typer.Typer(help="Review and publish datasets (validators and admins).", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

AsUser = Annotated[
    str, typer.Option("--as", help="The node user (validator or admin) acting; recorded in the audit log.")
]
Reason = Annotated[
    str, typer.Option("--reason", help="Why; shown to the data holder and kept in the audit log.")
]
IdArgument = Annotated[str, typer.Argument(help="The dataset id (see `eucaim-node dataset list`).")]


def _run(data: Any, as_user: str, call: Any) -> Any:
    from datetime import UTC, datetime

    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.accounts import get_user

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        user = get_user(session, name=as_user)
        return call(session, user.id, datetime.now(UTC))


def _count(agg: dict[str, Any] | None, key: str) -> str:
    return str(agg.get(key, "")) if agg else ""


@dataset_app.command("list")
def list_datasets(as_user: AsUser, data: DataOption = None) -> None:
    """List the datasets, newest first, with their state and counts."""
    from eucaim.node.services.datasets import list_datasets as list_all

    rows = _run(data, as_user, lambda session, uid, _now: list_all(session, user_id=uid))
    table = Table()
    for column in ("id", "name", "biobank", "state", "subjects", "studies", "author"):
        table.add_column(column, no_wrap=column == "id")
    for row in rows:
        agg = row["aggregates"]
        table.add_row(
            row["id"],
            row["name"],
            row["biobank"],
            row["state"],
            _count(agg, "subjects"),
            _count(agg, "studies"),
            row["author"],
        )
    console.print(table)
    console.print(f"{len(rows)} dataset(s)")


@dataset_app.command("show")
def show(dataset_id: IdArgument, as_user: AsUser, data: DataOption = None) -> None:
    """Print a dataset's full record (JSON), with what the user may do to it."""
    from eucaim.node.services.datasets import show_dataset

    view = _run(
        data, as_user, lambda session, uid, _now: show_dataset(session, dataset_id=dataset_id, user_id=uid)
    )
    console.print(json.dumps(view, indent=2, ensure_ascii=False), markup=False)


def _act(dataset_id: str, as_user: str, action: str, reason: str | None, data: Any) -> None:
    from eucaim.node.lifecycle import Action
    from eucaim.node.services.datasets import apply_action

    view = _run(
        data,
        as_user,
        lambda session, uid, now: apply_action(
            session, dataset_id=dataset_id, user_id=uid, action=Action(action), now=now, reason=reason
        ),
    )
    console.print(f"dataset {dataset_id} is now {view['state']}", markup=False)


@dataset_app.command("publish")
def publish(dataset_id: IdArgument, as_user: AsUser, data: DataOption = None) -> None:
    """Publish a released dataset: its aggregated metadata appears in the public catalogue."""
    _act(dataset_id, as_user, "publish", None, data)


@dataset_app.command("reject")
def reject(dataset_id: IdArgument, as_user: AsUser, reason: Reason, data: DataOption = None) -> None:
    """Send a released dataset back to draft, saying why."""
    _act(dataset_id, as_user, "reject", reason, data)


@dataset_app.command("invalidate")
def invalidate(dataset_id: IdArgument, as_user: AsUser, reason: Reason, data: DataOption = None) -> None:
    """Withdraw a dataset from use (and from the catalogue), saying why."""
    _act(dataset_id, as_user, "invalidate", reason, data)


@dataset_app.command("reactivate")
def reactivate(dataset_id: IdArgument, as_user: AsUser, data: DataOption = None) -> None:
    """Return an invalidated dataset to the state it was in."""
    _act(dataset_id, as_user, "reactivate", None, data)
