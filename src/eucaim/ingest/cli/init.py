"""`eucaim-ingest init`: create a workspace bound to a node and a biobank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.upload.http import check_url_security
from eucaim.ingest.workspace import Workspace


@app.command()
def init(
    node: Annotated[str, typer.Option("--node", help="Node URL, e.g. https://node.example.org")],
    biobank: Annotated[str, typer.Option("--biobank", help="Biobank code on the node")],
    token: Annotated[
        str | None, typer.Option("--token", help="API token (stored owner-only in the workspace)")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the API token (read at each use)")
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
    if (token is None) == (token_file is None):
        raise ConfigError("give exactly one of --token or --token-file")
    if token_file is not None and not token_file.is_file():
        raise ConfigError(f"token file {token_file} does not exist")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(f"CA bundle {ca_bundle} does not exist")
    check_url_security(node)
    path = resolve_workspace_path(workspace)
    node_cfg = NodeConfig(
        url=node, biobank=biobank, ca_bundle=str(ca_bundle.resolve()) if ca_bundle else None
    )
    with Workspace.create(path, node_cfg, token=token, token_file=token_file, profile=profile) as ws:
        console.print(f"workspace ready at [bold]{ws.path}[/]")
        console.print(f"  node     {ws.config.node.url}  biobank {ws.config.node.biobank}")
        console.print(f"  profile  {ws.config.deid.profile}")
        console.print("  secret   created (owner-only); keep a backup: pseudonyms depend on it")
        console.print("next: [bold]eucaim-ingest scan PATH[/] then [bold]eucaim-ingest push[/]")
