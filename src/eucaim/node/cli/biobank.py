"""``eucaim-node biobank``: create biobanks and name their managers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eucaim.node.cli.app import DataOption, app, console, load_settings

biobank_app = typer.Typer(help="Manage biobanks.", no_args_is_help=True)
app.add_typer(biobank_app, name="biobank")

AllowClinicalOnly = Annotated[
    bool | None,
    typer.Option(
        "--allow-clinical-only/--images-required",
        help="Accept clinical records of subjects with no images in the biobank (default: refused).",
        show_default=False,
    ),
]


@biobank_app.command("create")
def create(
    code: Annotated[str, typer.Argument(help="Short code used in URLs: letters, digits, - and _.")],
    name: Annotated[str, typer.Option("--name", help="Human-readable name.")],
    manager: Annotated[list[str], typer.Option("--manager", help="User who may write into it (repeatable).")],
    data: DataOption = None,
    allow_clinical_only: AllowClinicalOnly = None,
) -> None:
    """Create a biobank managed by existing users."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.biobanks import create_biobank
    from eucaim.node.services.clinical import set_clinical_settings

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        biobank = create_biobank(session, code=code, name=name, managers=manager)
        if allow_clinical_only:
            set_clinical_settings(session, biobank_id=biobank.id, allow_clinical_only=True)
    console.print(f"created biobank {code} managed by {', '.join(manager)}")
    console.print(f"DICOMweb root: /biobanks/{code}/dicom-web", markup=False)


@biobank_app.command("set")
def set_options(
    code: Annotated[str, typer.Argument(help="The biobank's code.")],
    allow_clinical_only: AllowClinicalOnly = None,
    schema_extension: Annotated[
        Path | None,
        typer.Option("--schema-extension", help="Clinical schema extension (.json) this biobank accepts."),
    ] = None,
    data: DataOption = None,
) -> None:
    """Change how a biobank takes clinical data."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.biobanks import get_biobank
    from eucaim.node.services.clinical import set_clinical_settings

    extension = schema_extension.read_text(encoding="utf-8") if schema_extension else None
    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        biobank = get_biobank(session, code=code)
        policy = set_clinical_settings(
            session,
            biobank_id=biobank.id,
            allow_clinical_only=allow_clinical_only,
            schema_extension=extension,
        )
    extensions = ", ".join(f"{n} {v}" for n, v in policy.schema.extensions) or "none"
    console.print(
        f"biobank {code}: clinical-only subjects {'allowed' if policy.allow_clinical_only else 'refused'}; "
        f"schema {policy.schema.name} {policy.schema.version}, extensions: {extensions}"
    )
