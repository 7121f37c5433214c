"""`eucaim-ingest login`: get a node token by the OIDC device flow (when the node advertises an issuer)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from eucaim.errors import AuthenticationError, ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, err_console, resolve_workspace_path

if TYPE_CHECKING:
    import httpx


@app.command()
def login(
    workspace: WorkspaceOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Start a new device login even if the stored one can be renewed")
    ] = False,
) -> None:
    """Log in at the node's identity provider (LS-AAI style): open the link shown, enter the code.

    The access token becomes the workspace's bearer token (stored owner-only) and is renewed with the
    refresh token when it expires; run `login` again when renewal is refused.
    """
    from eucaim.ingest.login import (
        discover,
        load_login,
        refresh,
        save_login,
        start_device_flow,
        wait_for_tokens,
    )
    from eucaim.ingest.node_accounts import whoami
    from eucaim.ingest.upload.http import build_client
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        node = ws.config.node
        if node.kind != "eucaim":
            raise ConfigError("`login` is for EUCAIM nodes; XNAT uses its own credentials")
        with build_client(node.url, ca_bundle=ws.ca_bundle, timeout_s=30) as node_client:

            def issuer_client(url: str) -> httpx.Client:
                return build_client(url, ca_bundle=ws.ca_bundle, timeout_s=30)

            params = discover(node_client, issuer_client)
            tokens = None
            stored = None if force else load_login(ws.path)
            with build_client(params.issuer, ca_bundle=ws.ca_bundle, timeout_s=30) as issuer:
                if stored is not None and stored.issuer == params.issuer and stored.tokens.refresh_token:
                    try:
                        tokens = refresh(issuer, stored, now=time.time())
                        console.print("renewed the stored login")
                    except AuthenticationError as exc:
                        err_console.print(
                            f"stored login not renewed ({exc}); starting a new one", markup=False
                        )
                if tokens is None:
                    device = start_device_flow(issuer, params)
                    console.print(f"To log in, open {device.verification_uri}", markup=False)
                    console.print(f"and enter the code: {device.user_code}", markup=False)
                    if device.verification_uri_complete:
                        console.print(f"(or open {device.verification_uri_complete})", markup=False)
                    console.print("waiting for approval…")
                    tokens = wait_for_tokens(issuer, params, device)
            save_login(ws.path, params, tokens)
            me = whoami(node_client, tokens.access_token)
        biobanks = ", ".join(me.get("biobanks") or []) or "none yet"
        console.print(
            f"logged in to {node.url} as {me['name']} ({me['role']}); biobanks: {biobanks}", markup=False
        )
