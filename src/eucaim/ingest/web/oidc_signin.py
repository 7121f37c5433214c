"""Sign in to the UI with the node's OIDC: the CLI's device flow in a thread, then the node decides.

The same functions as ``eucaim-ingest login`` (``ingest/login.py``): discover the issuer from the
node, start a device authorization, poll until the user approves. Only then is the node asked
who the token belongs to (``GET /me``): a user who is not a member of the workspace's biobank is
refused and the workspace keeps its old token. Once accepted, the access token becomes the
workspace's node token exactly as after ``eucaim-ingest login``. No token is logged or kept here.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import httpx

from eucaim.errors import AuthenticationError, ConfigError, EucaimError, PermissionDenied
from eucaim.ingest.workspace import Workspace

logger = logging.getLogger(__name__)


class SignInStatus(StrEnum):
    STARTING = "starting"
    WAITING = "waiting"
    APPROVED = "approved"
    FAILED = "failed"


@dataclass
class DeviceSignIn:
    """One browser's sign-in attempt: what to show the user, and how it ended."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    status: SignInStatus = SignInStatus.STARTING
    verification_uri: str = ""
    verification_uri_complete: str = ""
    user_code: str = ""
    user: str = ""
    error: str = ""
    cancelled: bool = False

    def cancellable_sleep(self, seconds: float) -> None:
        """The device flow's sleep between polls, cut short when the attempt is abandoned."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.cancelled:
                raise AuthenticationError("the sign-in was abandoned in the browser")
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def start_sign_in(workspace: Path) -> DeviceSignIn:
    """Start a device sign-in for ``workspace`` in a background thread and return its handle."""
    attempt = DeviceSignIn()
    thread = threading.Thread(target=_run, args=(attempt, workspace), name="ui-oidc-signin", daemon=True)
    thread.start()
    return attempt


def _run(attempt: DeviceSignIn, workspace: Path) -> None:
    try:
        attempt.user = _sign_in(attempt, workspace)
        attempt.status = SignInStatus.APPROVED
    except EucaimError as exc:
        attempt.error = str(exc)
        attempt.status = SignInStatus.FAILED
    except Exception as exc:  # a bug must end the attempt visibly, not leave the page waiting
        logger.exception("UI sign-in failed unexpectedly")
        attempt.error = f"unexpected error: {type(exc).__name__}"
        attempt.status = SignInStatus.FAILED


def _sign_in(attempt: DeviceSignIn, workspace: Path) -> str:
    from eucaim.ingest.login import discover, save_login, start_device_flow, wait_for_tokens
    from eucaim.ingest.node_accounts import whoami
    from eucaim.ingest.upload.http import build_client

    with Workspace.open(workspace) as ws:
        node = ws.config.node
        if node.kind != "eucaim":
            raise ConfigError("signing in with the node is for EUCAIM nodes; XNAT uses its own credentials")
        ca = ws.ca_bundle

        def issuer_client(url: str) -> httpx.Client:
            return build_client(url, ca_bundle=ca, timeout_s=30)

        with build_client(node.url, ca_bundle=ca, timeout_s=30) as node_client:
            params = discover(node_client, issuer_client)
            with issuer_client(params.issuer) as issuer:
                device = start_device_flow(issuer, params)
                attempt.verification_uri = device.verification_uri
                attempt.verification_uri_complete = device.verification_uri_complete or ""
                attempt.user_code = device.user_code
                attempt.status = SignInStatus.WAITING
                tokens = wait_for_tokens(issuer, params, device, sleep=attempt.cancellable_sleep)
            me = whoami(node_client, tokens.access_token)
        name = str(me.get("name") or "")
        if node.biobank not in (me.get("biobanks") or []):
            raise PermissionDenied(
                f"the node knows you as {name}, but you are not a member of biobank {node.biobank}",
                hint="ask the node's administrator to add you to it, or sign in as another user",
            )
        save_login(ws.path, params, tokens)
    return name
