"""``eucaim-node biobank``: create biobanks and name their managers."""

from __future__ import annotations

from typing import Annotated

import typer

from eucaim.node.cli.app import DataOption, app, console, load_settings

biobank_app = typer.Typer(help="Manage biobanks.", no_args_is_help=True)
app.add_typer(biobank_app, name="biobank")


@biobank_app.command("create")
def create(
    code: Annotated[str, typer.Argument(help="Short code used in URLs: letters, digits, - and _.")],
    name: Annotated[str, typer.Option("--name", help="Human-readable name.")],
    manager: Annotated[list[str], typer.Option("--manager", help="User who may write into it (repeatable).")],
    data: DataOption = None,
) -> None:
    """Create a biobank managed by existing users."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.biobanks import create_biobank

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        create_biobank(session, code=code, name=name, managers=manager)
    console.print(f"created biobank {code} managed by {', '.join(manager)}")
    console.print(f"DICOMweb root: /biobanks/{code}/dicom-web", markup=False)
