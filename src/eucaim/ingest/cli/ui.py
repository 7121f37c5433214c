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
    set_password: Annotated[
        bool,
        typer.Option(
            "--set-password",
            help="Set this workspace's UI password (asked twice, not shown), then exit.",
        ),
    ] = False,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help="Set the UI password from the first line of this file, then exit.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the Data Ingestion web application; open the printed link in a browser.

    Sign in there with that link, the workspace's password (``--set-password``) or, on a node
    with an identity provider, your node account.
    """
    if set_password or password_file is not None:
        _set_password(resolve_workspace_path(workspace).resolve(), password_file)
        return
    import uvicorn

    from eucaim.ingest.web.app import create_app, new_token
    from eucaim.ingest.web.deps import UiSettings
    from eucaim.ingest.web.password import load_password

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
    if load_password(settings.workspace) is not None:
        console.print(
            f"or open http://{shown}:{port}/ and sign in with the workspace's password", markup=False
        )
    # No access log: request lines carry folder paths and search terms that may name patients.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


def _set_password(workspace: Path, password_file: Path | None) -> None:
    """Store the UI password's hash in ``workspace``; the password is never printed or logged."""
    from eucaim.ingest.web.password import MIN_LENGTH, set_password

    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the password file {password_file}: {type(exc).__name__}") from exc
        password = lines[0] if lines else ""
    else:
        password = typer.prompt(
            f"New UI password (at least {MIN_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt="Repeat it",
        )
    path = set_password(workspace, password)
    console.print(
        f"UI password set for workspace {workspace} (its hash is in {path.name})",
        markup=False,
        soft_wrap=True,
    )
