"""`eucaim-ingest init`: create a workspace bound to a node and a biobank (or an XNAT project)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path


def _read_password(password_file: Path) -> str:
    try:
        password = password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read password file {password_file}: {exc.strerror}") from exc
    if not password:
        raise ConfigError(f"password file {password_file} is empty")
    return password


@app.command()
def init(
    node: Annotated[str, typer.Option("--node", help="Node URL, e.g. https://node.example.org")],
    biobank: Annotated[
        str | None, typer.Option("--biobank", help="Biobank code on the node (XNAT: the project ID)")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="Node kind: eucaim (a EUCAIM node) or xnat (an XNAT site)")
    ] = "eucaim",
    project: Annotated[
        str | None, typer.Option("--project", help="XNAT project ID (same as --biobank)")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="XNAT user name (with --password-file)")] = None,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="File holding the XNAT password (copied owner-only)"),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="API token (stored owner-only in the workspace)")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding the API token (read at each use); XNAT: an alias token as ALIAS:SECRET",
        ),
    ] = None,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="PEM file of the node's CA, if not a public one")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="De-identification profile (default: eucaim)")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create (or re-point) a workspace: config, state database and a new site secret."""
    from eucaim.ingest.config import NodeConfig
    from eucaim.ingest.upload.http import check_url_security
    from eucaim.ingest.workspace import Workspace

    if kind not in ("eucaim", "xnat"):
        raise ConfigError(f"--kind must be eucaim or xnat, not {kind!r}")
    node_kind: Literal["eucaim", "xnat"] = "xnat" if kind == "xnat" else "eucaim"
    if project is not None and biobank is not None and project != biobank:
        raise ConfigError("--project and --biobank name the same thing; give one of them")
    where = project or biobank
    if where is None:
        raise ConfigError("give --biobank CODE (or, for XNAT, --project ID)")
    if node_kind == "eucaim" and (user is not None or password_file is not None):
        raise ConfigError("--user and --password-file are for --kind xnat")
    if password_file is not None:
        if user is None or token is not None or token_file is not None:
            raise ConfigError("--password-file goes with --user, and without --token or --token-file")
        token = _read_password(password_file)
    elif user is not None and token is None:
        raise ConfigError("--user needs --password-file (or --token holding the password)")
    if token is not None and token_file is not None:
        raise ConfigError("give one of --token or --token-file, not both")
    if token is None and token_file is None and node_kind == "xnat":
        raise ConfigError("XNAT needs --user with --password-file, or an alias token in --token-file")
    # A EUCAIM node with OIDC needs no token here: `eucaim-ingest login` gets one.
    needs_login = token is None and token_file is None
    if token_file is not None and not token_file.is_file():
        raise ConfigError(f"token file {token_file} does not exist")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(f"CA bundle {ca_bundle} does not exist")
    check_url_security(node)
    path = resolve_workspace_path(workspace)
    node_cfg = NodeConfig(
        kind=node_kind,
        url=node,
        biobank=where,
        username=user,
        ca_bundle=str(ca_bundle.resolve()) if ca_bundle else None,
    )
    with Workspace.create(path, node_cfg, token=token, token_file=token_file, profile=profile) as ws:
        console.print(f"workspace ready at [bold]{ws.path}[/]")
        if node_kind == "xnat":
            login = f"user {user}" if user else "an alias token"
            console.print(f"  node     {ws.config.node.url} (XNAT)  project {where}  as {login}")
        else:
            console.print(f"  node     {ws.config.node.url}  biobank {ws.config.node.biobank}")
        console.print(f"  profile  {ws.config.deid.profile}")
        console.print("  secret   created (owner-only); keep a backup: pseudonyms depend on it")
        if needs_login:
            console.print("  token    none yet: run [bold]eucaim-ingest login[/] (the node's OIDC sign-in)")
        console.print("next: [bold]eucaim-ingest scan PATH[/] then [bold]eucaim-ingest push[/]")
