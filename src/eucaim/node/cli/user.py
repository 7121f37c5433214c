"""``eucaim-node user``: create users, give them API tokens, change their role, biobanks and access.

Role, enabling and biobanks go through :mod:`eucaim.node.services.users`, as the portal's admin
pages do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
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


@user_app.command("role")
def role(
    name: Annotated[str, typer.Argument(help="Existing user name.")],
    new_role: Annotated[Role, typer.Option("--role", help="The new role.", case_sensitive=False)],
    data: DataOption = None,
) -> None:
    """Give a user another role (refused for the last active admin and for OIDC users)."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.users import set_role

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        set_role(session, name=name, role=new_role)
    console.print(f"user {name} is now {new_role.value}")


def _set_active(name: str, active: bool, data: Path | None) -> None:
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.users import set_active

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        set_active(session, name=name, active=active)


@user_app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="Existing user name.")], data: DataOption = None
) -> None:
    """Disable a user: their API tokens and OIDC sign-ins are refused until enabled again."""
    _set_active(name, False, data)
    console.print(f"user {name} disabled: their tokens no longer work")


@user_app.command("enable")
def enable(name: Annotated[str, typer.Argument(help="User name.")], data: DataOption = None) -> None:
    """Enable a disabled user again (their unrevoked, unexpired tokens work again)."""
    _set_active(name, True, data)
    console.print(f"user {name} enabled")


@user_app.command("biobanks")
def biobanks(
    name: Annotated[str, typer.Argument(help="Existing user name.")],
    codes: Annotated[list[str] | None, typer.Argument(help="Biobank codes (none: no biobank).")] = None,
    data: DataOption = None,
) -> None:
    """Make a user manage exactly the given biobanks."""
    from eucaim.node.cli.storage import open_sessions
    from eucaim.node.db import session_scope
    from eucaim.node.services.users import set_biobanks

    settings = load_settings(data)
    with open_sessions(settings) as sessions, session_scope(sessions) as session:
        set_biobanks(session, name=name, codes=codes or [])
    console.print(f"user {name} manages: {', '.join(codes or []) or 'no biobank'}")
