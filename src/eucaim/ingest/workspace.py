"""A workspace: the folder holding one transfer's config, state, site secret, outbox and reports.

    <workspace>/config.toml    node, biobank, profile, transfer settings
    <workspace>/secret.key     site secret (owner-only); de-identification is keyed on it
    <workspace>/token          node API token when given on the command line (owner-only)
    <workspace>/state.db       one row per instance (see eucaim.ingest.state)
    <workspace>/outbox/        de-identified copies waiting to be sent
    <workspace>/incoming/      files received from a PACS before they are indexed
    <workspace>/reports/       one JSON and one CSV report per run
    <workspace>/audit/         de-identification audit (JSON lines, no values)
    <workspace>/vault.enc      original PatientID ⇄ pseudonym and day offset, encrypted (AES-GCM,
                               key derived from the site secret); exported only on explicit request

Secrets and the original identifiers in ``state.db`` never leave this folder.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eucaim.deid.pseudonym import MIN_SECRET_BYTES
from eucaim.errors import ConfigError, StateError
from eucaim.ingest.config import NodeConfig, WorkspaceConfig, load_config, save_config
from eucaim.ingest.state.db import StateDB

SECRET_NAME = "secret.key"
TOKEN_NAME = "token"


def read_secret(path: Path) -> bytes:
    """Read a site secret file: its bytes with surrounding whitespace removed, at least 16 bytes."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"secret file {path} holds {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed",
            hint="generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))' > FILE",
        )
    return secret


def write_private_file(path: Path, content: bytes) -> None:
    """Create ``path`` readable by its owner only, without a window where others could read it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


@dataclass
class Workspace:
    """An opened workspace. Use :meth:`create` or :meth:`open`; close the state DB with :meth:`close`."""

    path: Path
    config: WorkspaceConfig
    state: StateDB

    @classmethod
    def create(
        cls,
        path: Path,
        node: NodeConfig,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        profile: str | None = None,
    ) -> Workspace:
        """Create (or re-initialise) a workspace. The site secret is created once and never replaced."""
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        secret_path = path / SECRET_NAME
        if not secret_path.exists():
            write_private_file(secret_path, secrets.token_hex(32).encode("ascii") + b"\n")
        if token is not None:
            write_private_file(path / TOKEN_NAME, token.strip().encode("utf-8") + b"\n")
            node = node.model_copy(update={"token_file": TOKEN_NAME})
        elif token_file is not None:
            node = node.model_copy(update={"token_file": str(token_file.resolve())})
        config = WorkspaceConfig(node=node)
        if profile:
            config.deid.profile = profile
        save_config(path, config)
        for sub in ("outbox", "incoming", "reports", "audit"):
            (path / sub).mkdir(exist_ok=True)
        return cls(path=path, config=config, state=StateDB(path / "state.db"))

    @classmethod
    def open(cls, path: Path) -> Workspace:
        config = load_config(path)
        return cls(path=path, config=config, state=StateDB(path / "state.db"))

    def close(self) -> None:
        self.state.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def secret(self) -> bytes:
        return read_secret(self.path / SECRET_NAME)

    @property
    def token(self) -> str:
        """The bearer token: a fresh OIDC access token after `eucaim-ingest login`, else the API token."""
        from eucaim.ingest.login import fresh_access_token

        fresh = fresh_access_token(self.path, ca_bundle=self.ca_bundle)
        if fresh:
            return fresh
        token_path = Path(self.config.node.token_file)
        if not token_path.is_absolute():
            token_path = self.path / token_path
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the node token from {token_path}: {exc.strerror}",
                hint="run `eucaim-ingest login` (OIDC sign-in), or `eucaim-ingest init` again with "
                "--token or --token-file",
            ) from exc
        if not token:
            raise ConfigError(f"token file {token_path} is empty")
        return token

    @property
    def outbox(self) -> Path:
        return self.path / "outbox"

    @property
    def incoming(self) -> Path:
        return self.path / "incoming"

    @property
    def reports(self) -> Path:
        return self.path / "reports"

    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Hold the workspace's lock for ``what`` (a push, a retrieve); refuse if another holds it.

        Two pushes on one workspace would de-identify and send everything twice and race on each
        row's state; the lock makes the second one stop at once and say why. The OS releases the
        lock when the process ends, so a killed push never leaves the workspace locked.
        """
        lock_path = self.path / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                raise StateError(
                    f"{holder} is using workspace {self.path}",
                    hint="wait for it to finish (or stop it), then run the command again",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{what} (pid {os.getpid()})".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def vault_path(self) -> Path:
        return self.path / "vault.enc"

    @property
    def audit_dir(self) -> Path:
        return self.path / "audit"

    @property
    def ca_bundle(self) -> Path | None:
        ca = self.config.node.ca_bundle
        return Path(ca) if ca else None
