"""Roles, accounts, tokens and biobank rights through the service layer, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from eucaim.errors import AuthenticationError, Conflict, NotFound, PermissionDenied
from eucaim.node.db import make_engine, make_session_factory, session_scope
from eucaim.node.migration import upgrade_database
from eucaim.node.roles import Role, can_read_biobank, can_write_biobank
from eucaim.node.services.accounts import authenticate_token, create_user, issue_token, revoke_tokens
from eucaim.node.services.biobanks import authorize, create_biobank, get_biobank

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    upgrade_database(engine)
    with session_scope(make_session_factory(engine)) as s:
        yield s
    engine.dispose()


@pytest.mark.parametrize(
    ("role", "manager", "read", "write"),
    [
        (Role.DATA_INGESTER, True, True, True),
        (Role.DATA_INGESTER, False, False, False),
        (Role.VALIDATOR, False, True, False),
        (Role.VALIDATOR, True, True, False),
        (Role.ADMIN, False, True, True),
    ],
)
def test_rights_table(role: Role, manager: bool, read: bool, write: bool) -> None:
    assert can_read_biobank(role, is_manager=manager) is read
    assert can_write_biobank(role, is_manager=manager) is write


def test_token_authenticates_until_expiry_or_revocation(session: Session) -> None:
    user = create_user(session, name="alice", role=Role.DATA_INGESTER)
    token = issue_token(session, user=user, now=NOW, ttl=timedelta(days=1))
    assert authenticate_token(session, token=token, now=NOW + timedelta(hours=23)).name == "alice"
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate_token(session, token=token, now=NOW + timedelta(days=1))
    forever = issue_token(session, user=user, now=NOW, ttl=None)
    assert authenticate_token(session, token=forever, now=NOW + timedelta(days=9999)).name == "alice"
    assert revoke_tokens(session, user=user, now=NOW) == 2
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate_token(session, token=forever, now=NOW)


def test_inactive_users_and_unknown_tokens_are_refused(session: Session) -> None:
    user = create_user(session, name="bob", role=Role.ADMIN)
    token = issue_token(session, user=user, now=NOW, ttl=None)
    user.is_active = False
    with pytest.raises(AuthenticationError, match="disabled"):
        authenticate_token(session, token=token, now=NOW)
    with pytest.raises(AuthenticationError, match="unknown"):
        authenticate_token(session, token=token + "x", now=NOW)


def test_tokens_are_unique_and_only_their_hash_is_kept(session: Session) -> None:
    user = create_user(session, name="carol", role=Role.VALIDATOR)
    tokens = {issue_token(session, user=user, now=NOW, ttl=None) for _ in range(5)}
    assert len(tokens) == 5
    stored = {t.token_hash for t in user.tokens}
    assert not tokens & stored and all(len(h) == 64 for h in stored)


def test_user_names_are_unique(session: Session) -> None:
    create_user(session, name="dan", role=Role.ADMIN)
    with pytest.raises(Conflict, match="'dan' already exists"):
        create_user(session, name="dan", role=Role.VALIDATOR)


def test_biobank_creation_and_authorization(session: Session) -> None:
    ingester = create_user(session, name="ing", role=Role.DATA_INGESTER)
    other = create_user(session, name="oth", role=Role.DATA_INGESTER)
    validator = create_user(session, name="val", role=Role.VALIDATOR)
    create_biobank(session, code="bb-1", name="Lung", managers=["ing"])
    biobank = get_biobank(session, code="bb-1")
    authorize(biobank, ingester, write=True)
    authorize(biobank, validator, write=False)
    with pytest.raises(PermissionDenied, match="'oth' \\(data-ingester\\) may not read biobank 'bb-1'"):
        authorize(biobank, other, write=False)
    with pytest.raises(PermissionDenied, match="may not store data in"):
        authorize(biobank, validator, write=True)


def test_biobank_creation_errors(session: Session) -> None:
    create_user(session, name="ing", role=Role.DATA_INGESTER)
    with pytest.raises(NotFound, match="user 'ghost' does not exist"):
        create_biobank(session, code="bb", name="x", managers=["ing", "ghost"])
    create_biobank(session, code="bb", name="x", managers=["ing"])
    with pytest.raises(Conflict):
        create_biobank(session, code="bb", name="y", managers=[])
    with pytest.raises(ValueError, match="invalid"):
        create_biobank(session, code="../etc", name="x", managers=[])
    with pytest.raises(NotFound, match="biobank 'zz' does not exist"):
        get_biobank(session, code="zz")
