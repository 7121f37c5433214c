"""A throwaway PostgreSQL server (initdb + pg_ctl in a temp dir) for tests, with a fresh database per test.

Register the fixtures once in ``tests/conftest.py``::

    pytest_plugins = ["tests.support.postgres"]

then ask for them in a test::

    @pytest.mark.integration
    def test_something(postgres_database: str) -> None:
        engine = sqlalchemy.create_engine(postgres_database)   # a new, empty database
        ...

- ``postgres`` (session): one server for the whole session, a :class:`PostgresServer` with ``url``
  (SQLAlchemy URL ``postgresql+psycopg://...`` of the ``postgres`` database) and
  ``new_database() -> url`` for tests that want more than one database.
- ``postgres_database`` (function): the URL of a new empty database, dropped after the test
  (``WITH (FORCE)``, so engines a test forgot to dispose do not block it).

Outside pytest, ``with running_postgres() as server:`` gives the same server (benchmarks, demos).

How it runs: the binaries come from ``PATH`` or ``/usr/lib/postgresql/<version>/bin`` (Debian
package ``postgresql-15``, or ``postgresql`` for the distribution's version). ``initdb`` refuses to
run as root, so when the tests run as root every server command runs through ``setpriv`` as the
``postgres`` user (created by the Debian package) or, failing that, ``nobody``; the temp dir is
created under the system temp dir and handed to that user. The server listens on 127.0.0.1 on a
free port, keeps its Unix socket inside the temp dir, requires a password (scram-sha-256) for TCP,
and runs with ``fsync=off`` because durability does not matter for a server that is deleted at the
end. ``pg_ctl stop -m fast`` stops it at the end of the session, also when tests failed; if that
does not work, the postmaster is killed by the PID in its own ``postmaster.pid``.

When no PostgreSQL binaries exist, tests using the fixtures skip with the reason, except in CI
(``CI=true``), where they fail. A server that exists but does not start always fails, with the tail
of the server log in the message.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

SUPERUSER = "eucaim"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
_SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=32MB"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine."""


@dataclass
class PostgresServer:
    """A running throwaway server and the credentials of its superuser."""

    host: str
    port: int
    user: str
    password: str
    socket_dir: Path
    data_dir: Path
    _counter: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres``."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of ``database`` on this server."""
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """libpq connection string of ``database``, for psycopg directly."""
        return (
            f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={database}"
        )

    def new_database(self) -> str:
        """Create a new empty database and return its SQLAlchemy URL."""
        self._counter += 1
        name = f"test_{self._counter}_{secrets.token_hex(4)}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        """Drop the database behind ``url``, even if connections to it are still open."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_binaries() -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl`` (newest Debian version first)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return candidates[0].parent
    raise PostgresUnavailable(
        "PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install the Debian package postgresql-15 (apt-get install postgresql-15)"
    )


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and neither user 'postgres' nor 'nobody' exists")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(args: list[str], account: pwd.struct_passwd | None, timeout: float) -> None:
    command = Path(args[0]).name
    if command == "pg_ctl":
        command += f" {args[-1]}"  # start or stop
    if account is not None:
        args = [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            "--",
            *args,
        ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise RuntimeError(f"{command} failed (exit {result.returncode}): {output}")


def _temp_parent(account: pwd.struct_passwd | None) -> str | None:
    """Where to create the server's temp dir: one the server's account can reach."""
    if account is None:
        return None
    # TMPDIR may point into root's home (mode 700); the unprivileged server could not enter it.
    path = Path(tempfile.gettempdir()).resolve()
    if all(p.stat().st_mode & 0o001 for p in (path, *path.parents)):
        return None
    return "/tmp"


def _log_tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    return "(no server log)"


def _kill_postmaster(data_dir: Path) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGQUIT)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a throwaway server, yield it, and stop it and delete its files afterwards."""
    bindir = find_binaries()
    account = _server_account()
    base = Path(tempfile.mkdtemp(prefix="eucaim-pg-", dir=_temp_parent(account)))
    data_dir, socket_dir, log = base / "data", base / "sock", base / "server.log"
    password = secrets.token_urlsafe(16)
    started = False
    try:
        socket_dir.mkdir()
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        if account is not None:
            for path in (base, socket_dir, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        init = [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}"]
        init += ["-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256"]
        _run(init, account, timeout=120)
        # A port can be taken between choosing and binding it; a second try with a new one settles it.
        for attempt in range(3):
            port = _free_port()
            options = f"-p {port} -k {socket_dir} {_SERVER_OPTIONS}"
            start = [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", options]
            try:
                _run([*start, "-w", "-t", str(START_TIMEOUT_S), "start"], account, START_TIMEOUT_S + 10)
                started = True
                break
            except RuntimeError as exc:
                if attempt == 2:
                    raise RuntimeError(f"{exc}\nserver log:\n{_log_tail(log)}") from exc
        yield PostgresServer("127.0.0.1", port, SUPERUSER, password, socket_dir, data_dir)
    finally:
        if started:
            try:
                stop = [str(bindir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
                _run(stop, account, timeout=STOP_TIMEOUT_S)
            except (RuntimeError, subprocess.TimeoutExpired):
                _kill_postmaster(data_dir)
        shutil.rmtree(base, ignore_errors=True)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session."""
    try:
        server_context = running_postgres()
        server = server_context.__enter__()
    except PostgresUnavailable as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}")
    try:
        yield server
    finally:
        server_context.__exit__(None, None, None)


@pytest.fixture
def postgres_database(postgres: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database, dropped after the test."""
    url = postgres.new_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)
