"""``eucaim-node token``: create API tokens with an expiry, list them (no secrets), revoke them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from eucaim.node.cli.app import DataOption, app, console, load_settings

token_app = typer.Typer(help="Manage API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _when(value: datetime | None, empty: str = "-") -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else empty


@token_app.command("create")
def create(
    user: Annotated[str, typer.Argument(help="Existing user name.")],
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            help="Lifetime: 90d, 12h, 30m, 2w, or never [default: EUCAIM_NODE_TOKEN_TTL_DAYS days].",
            show_default=False,
        ),
    ] = None,
    data: DataOption = None,
) -> None:
    """Issue an API token for USER; prints it alone on the last line (shown once, stored hashed)."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.tokens import create_token, parse_duration

    settings = load_settings(data)
    ttl = parse_duration(expires_in) if expires_in else timedelta(days=settings.token_ttl_days)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        issued = create_token(session, user_name=user, now=datetime.now(UTC), ttl=ttl)
    until = _when(issued.info.expires_at, "never")
    console.print(f"API token {issued.info.id} for {user}, expires {until} UTC (shown once):", markup=False)
    console.print(issued.token, markup=False)


@token_app.command("list")
def list_(
    user: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    data: DataOption = None,
) -> None:
    """List tokens: id, user, prefix, state, created, expires, last used (never the tokens)."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.tokens import list_tokens

    with open_sessions(load_settings(data)) as sessions, session_scope(sessions) as session:
        tokens = list_tokens(session, user_name=user)
    now = datetime.now(UTC)
    table = Table(box=None)
    for column in ("id", "user", "prefix", "state", "created", "expires", "last used"):
        # Fold rather than cut: a listing must show every URL and reason in full, at any width.
        table.add_column(column, overflow="fold")
    for info in tokens:
        table.add_row(
            str(info.id),
            info.user,
            info.prefix + "…",
            info.state(now),
            _when(info.created_at),
            _when(info.expires_at, "never"),
            _when(info.last_used_at, "never"),
        )
    console.print(table)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id (see `token list`).")],
    data: DataOption = None,
) -> None:
    """Revoke a token: requests with it are refused from now on (401, saying it was revoked)."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.tokens import revoke_token

    with open_sessions(load_settings(data)) as sessions, session_scope(sessions) as session:
        info = revoke_token(session, token_id=token_id, now=datetime.now(UTC))
    console.print(f"revoked API token {info.id} ({info.prefix}…) of {info.user}", markup=False)
