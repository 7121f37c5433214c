"""The root typer application of eucaim-ingest and the one console it prints through."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="eucaim-ingest",
    help="De-identify imaging and clinical data and transfer it to a EUCAIM reference node.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# User output goes through these consoles (not logging): results on stdout, errors on stderr.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder [env: EUCAIM_INGEST_WORKSPACE; default ./eucaim-workspace].",
        show_default=False,
    ),
]


def resolve_workspace_path(workspace: Path | None) -> Path:
    """Return the workspace folder from the option, the environment, or the default."""
    if workspace is not None:
        return workspace
    env = os.environ.get("EUCAIM_INGEST_WORKSPACE")
    return Path(env) if env else Path("eucaim-workspace")


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pydicom logs invalid values verbatim and pynetdicom logs query identifiers at INFO: both can
    # carry patient data, so they stay quiet even under --verbose.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
