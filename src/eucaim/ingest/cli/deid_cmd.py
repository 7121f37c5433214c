"""`eucaim-ingest deid`: de-identify a folder tree into another folder, no node needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, err_console, resolve_workspace_path


@app.command("deid")
def deid_command(
    in_dir: Annotated[Path, typer.Argument(help="Folder of DICOM files")],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write de-identified files into")],
    secret_file: Annotated[
        Path | None,
        typer.Option("--secret-file", help="Site secret (≥16 bytes); default: the workspace's"),
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile name or file")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Processes to use")] = 0,
    workspace: WorkspaceOption = None,
) -> None:
    """De-identify IN_DIR into OUT_DIR/<pseudonym>/<study>/<series>/<instance>.dcm."""
    from eucaim.deid.profile import DEFAULT_PROFILE
    from eucaim.ingest.folder_deid import deidentify_tree
    from eucaim.ingest.workspace import Workspace, read_secret

    if not in_dir.is_dir():
        raise ConfigError(f"{in_dir} is not a folder")
    if secret_file is not None:
        secret = read_secret(secret_file)
        profile_name = profile or DEFAULT_PROFILE
    else:
        with Workspace.open(resolve_workspace_path(workspace)) as ws:
            secret = ws.secret
            profile_name = profile or ws.config.deid.profile
    result = deidentify_tree(in_dir, out_dir, secret=secret, profile=profile_name, workers=workers)
    console.print(
        f"{result.written} files de-identified into {out_dir} with profile {profile_name}; "
        f"{len(result.problems)} not written"
    )
    for path, reason, detail in result.problems:
        err_console.print(f"  [red]{reason}[/] {path}: {detail}")
    if result.problems:
        raise typer.Exit(1)
