"""The workspace's UI password: stored only as a salted scrypt hash, and failed attempts slowed down.

``eucaim-ingest ui --set-password`` writes ``ui-password.json`` (owner-only) in the workspace; the
password itself is never stored, logged or shown. scrypt (stdlib ``hashlib``) is memory-hard, so
a stolen hash file is expensive to attack; the :class:`Throttle` makes guessing through the sign-in
form slow: after a few failures each further one locks the form for a doubling time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eucaim.errors import ConfigError
from eucaim.ingest.workspace import write_private_file

PASSWORD_FILE = "ui-password.json"
MIN_LENGTH = 10
# scrypt cost: 32 MiB and ~0.1 s per attempt on a laptop (RFC 7914's interactive-login range).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
FREE_FAILURES = 3
MAX_LOCK_S = 300.0


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


def hash_password(password: str) -> dict[str, Any]:
    """Return the record stored for ``password``: scheme, cost, salt and hash (base64)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return {
        "scheme": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode("ascii"),
        "hash": base64.b64encode(digest).decode("ascii"),
    }


def verify_password(password: str, record: dict[str, Any]) -> bool:
    """True when ``password`` matches ``record`` (constant-time comparison)."""
    if record.get("scheme") != "scrypt":
        return False
    salt = base64.b64decode(record["salt"])
    digest = _scrypt(password, salt, int(record["n"]), int(record["r"]), int(record["p"]))
    return hmac.compare_digest(digest, base64.b64decode(record["hash"]))


def check_new_password(password: str) -> None:
    """Refuse a password too short to resist guessing.

    Raises:
        ConfigError: shorter than :data:`MIN_LENGTH` characters.
    """
    if len(password) < MIN_LENGTH:
        raise ConfigError(
            f"the UI password must have at least {MIN_LENGTH} characters",
            hint="choose a longer one (a few words make a good password)",
        )


def set_password(workspace: Path, password: str) -> Path:
    """Store the hash of ``password`` owner-only in ``workspace`` (created if missing); return the file."""
    check_new_password(password)
    workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = workspace / PASSWORD_FILE
    write_private_file(path, json.dumps(hash_password(password), indent=2).encode("utf-8"))
    return path


def load_password(workspace: Path) -> dict[str, Any] | None:
    """The stored record, or None when no password was set for this workspace.

    Raises:
        ConfigError: the file exists but cannot be read as a password record.
    """
    path = workspace / PASSWORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not {"salt", "hash", "n", "r", "p"} <= record.keys():
            raise ValueError("fields missing")
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} is unreadable ({type(exc).__name__})",
            hint="set the password again with `eucaim-ingest ui --set-password`",
        ) from exc
    return record


def lock_seconds(failures: int) -> float:
    """How long the form stays locked after ``failures`` consecutive failures (pure)."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(MAX_LOCK_S, 2.0 ** (failures - FREE_FAILURES))


@dataclass
class Throttle:
    """Consecutive failed sign-ins of one server and until when the password form is locked."""

    failures: int = 0
    locked_until: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def wait_s(self, now: float) -> float:
        """Seconds left before the next attempt is looked at (0: go ahead)."""
        return max(0.0, self.locked_until - now)

    def failed(self, now: float) -> None:
        with self._lock:
            self.failures += 1
            self.locked_until = now + lock_seconds(self.failures)

    def succeeded(self) -> None:
        with self._lock:
            self.failures, self.locked_until = 0, 0.0
