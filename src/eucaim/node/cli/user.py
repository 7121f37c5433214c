"""``eucaim-node user``: create users and give them API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from eucaim.node.cli.app import DataOption, app, console, load_settings
from eucaim.node.roles import Role

user_app = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (unique).")],
    role: Annotated[Role, typer.Option("--role", help="What the user may do.", case_sensitive=False)],
    data: DataOption = None,
) -> None:
    """Create a user and print a new API token as the last line (shown once, stored hashed)."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.accounts import create_user, issue_token

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        user = create_user(session, name=name, role=role)
        token = issue_token(
            session, user=user, now=datetime.now(UTC), ttl=timedelta(days=settings.token_ttl_days)
        )
    console.print(f"created user {name} ({role.value}); API token (shown once):")
    # The token alone on the last line, so scripts can take it with `tail -n 1`.
    console.print(token, markup=False)


@user_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="Existing user name.")],
    data: DataOption = None,
) -> None:
    """Issue another API token for an existing user; prints it as the last line."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.accounts import get_user, issue_token

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        user = get_user(session, name=name)
        new_token = issue_token(
            session, user=user, now=datetime.now(UTC), ttl=timedelta(days=settings.token_ttl_days)
        )
    console.print(f"new API token for {name} (shown once):")
    console.print(new_token, markup=False)
