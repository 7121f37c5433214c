"""`eucaim-ingest ui`: serve the web application for one workspace on this machine."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("ui")
def ui(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8765,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Folder the folder picker may browse (default: your home folder)."),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Listen on a non-loopback address. Traffic is plain HTTP: put TLS in front of it.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the Data Ingestion web application; open the printed link in a browser."""
    import uvicorn

    from eucaim.ingest.web.app import create_app, new_token
    from eucaim.ingest.web.deps import UiSettings

    if not is_loopback_host(host) and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: the UI shows patient data and would be reachable by others",
            hint="keep the default 127.0.0.1, or add --allow-remote behind a TLS proxy",
        )
    settings = UiSettings(
        workspace=resolve_workspace_path(workspace).resolve(),
        browse_root=(root or Path.home()).resolve(),
        token=new_token(),
    )
    console.print(f"workspace {settings.workspace}")
    console.print("open this link in your browser (it holds this run's access token):")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address needs brackets in a URL
    console.print(f"  http://{shown}:{port}/login?token={settings.token}", soft_wrap=True, markup=False)
    # No access log: request lines carry folder paths and search terms that may name patients.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
