"""Who the caller is and what they may do: users, alias tokens, JSESSIONs and project roles.

Mirrors XNAT's rules as far as the REST API shows them:

- a caller authenticates with a JSESSIONID cookie, or with HTTP Basic (user and password, or an alias
  token and its secret), which also opens a session;
- a session ends on ``DELETE /data/JSESSION``, after ``session_timeout`` seconds without a request,
  or when a test expires all sessions;
- site admins may do anything; otherwise project owners may do anything to their project, members
  may read and write data, collaborators may only read; anyone logged in may read a public project
  and see that a protected one exists; a private project is invisible to non-members.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import Accessibility, Project, Role


@dataclass
class User:
    """An XNAT account."""

    login: str
    password: str
    is_admin: bool = False
    enabled: bool = True


@dataclass
class Session:
    """An open JSESSION."""

    login: str
    last_access: float


@dataclass
class Security:
    """Accounts, alias tokens and open sessions, safe to use from several request threads."""

    session_timeout: float = 900.0
    clock: Callable[[], float] = time.monotonic
    users: dict[str, User] = field(default_factory=dict)
    aliases: dict[str, tuple[str, str]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, login: str, password: str, *, is_admin: bool = False) -> User:
        user = User(login=login, password=password, is_admin=is_admin)
        with self._lock:
            self.users[login] = user
        return user

    def issue_alias_token(self, login: str) -> tuple[str, str]:
        """A new alias token (a UUID, used as user name) and its secret (``/data/services/tokens/issue``)."""
        alias, secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
        with self._lock:
            self.aliases[alias] = (login, secret)
        return alias, secret

    def check_password(self, login: str, password: str) -> str | None:
        """The account a user name (or alias token) and password stand for, or None."""
        with self._lock:
            if login in self.aliases:
                owner, secret = self.aliases[login]
                return owner if secrets.compare_digest(secret, password) else None
            user = self.users.get(login)
        if user is None or not user.enabled or not secrets.compare_digest(user.password, password):
            return None
        return user.login

    def open_session(self, login: str) -> str:
        token = secrets.token_hex(16).upper()
        with self._lock:
            self.sessions[token] = Session(login=login, last_access=self.clock())
        return token

    def session_user(self, token: str) -> str | None:
        """The account of a live session (touching it), or None if unknown or timed out."""
        now = self.clock()
        with self._lock:
            session = self.sessions.get(token)
            if session is None:
                return None
            if now - session.last_access > self.session_timeout:
                del self.sessions[token]
                return None
            session.last_access = now
            return session.login

    def close_session(self, token: str) -> None:
        with self._lock:
            self.sessions.pop(token, None)

    def expire_all(self) -> int:
        """End every open session now; return how many there were."""
        with self._lock:
            count = len(self.sessions)
            self.sessions.clear()
        return count

    def basic_credentials(self, header: str) -> tuple[str, str] | None:
        """User name and password of an ``Authorization: Basic`` header, or None."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        login, sep, password = decoded.partition(":")
        return (login, password) if sep else None

    # ---- permissions ---------------------------------------------------------------------------

    def is_admin(self, login: str) -> bool:
        user = self.users.get(login)
        return user is not None and user.is_admin

    def role(self, login: str, project: Project) -> Role | None:
        return project.roles.get(login)

    def can_see(self, login: str, project: Project) -> bool:
        """Whether the project appears in listings and answers rather than 404."""
        return (
            self.is_admin(login)
            or login in project.roles
            or project.accessibility in {Accessibility.PROTECTED, Accessibility.PUBLIC}
        )

    def can_read(self, login: str, project: Project) -> bool:
        return self.is_admin(login) or login in project.roles or project.accessibility is Accessibility.PUBLIC

    def can_write(self, login: str, project: Project) -> bool:
        return self.is_admin(login) or self.role(login, project) in {Role.OWNER, Role.MEMBER}

    def can_own(self, login: str, project: Project) -> bool:
        return self.is_admin(login) or self.role(login, project) is Role.OWNER
