"""The pseudonym vault: original PatientID <-> pseudonym and day offset, encrypted, on site only.

One file of JSON lines, each an AES-256-GCM ciphertext (key derived from the site secret) of one
mapping. Append-only with one writer (the pipeline's parent process). Recording checks for
collisions: one pseudonym for two different originals is refused. Exporting the clear mapping is
for an authorised re-identification only and must be asked for explicitly.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eucaim.errors import ConfigError, Conflict, PermissionDenied

_AAD = b"eucaim-vault-v1"


@dataclass(frozen=True)
class VaultEntry:
    """One patient's mapping."""

    original_patient_id: str
    pseudonym: str
    day_offset: int


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"vault-key\x00", hashlib.sha256).digest()


class Vault:
    """The encrypted mapping file at ``path`` under ``secret``."""

    def __init__(self, path: Path, secret: bytes) -> None:
        self.path = Path(path)
        self._aead = AESGCM(_key(secret))
        self._by_pseudonym: dict[str, VaultEntry] = {}
        self._load()

    def __repr__(self) -> str:
        return f"Vault({self.path.name}, {len(self._by_pseudonym)} patients)"

    def __len__(self) -> int:
        return len(self._by_pseudonym)

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    blob = base64.b64decode(line.strip(), validate=True)
                    clear = self._aead.decrypt(blob[:12], blob[12:], _AAD)
                except (InvalidTag, ValueError) as exc:
                    raise ConfigError(
                        f"pseudonym vault {self.path} line {number} cannot be decrypted",
                        hint="the site secret differs from the one that wrote it, or the file is damaged",
                    ) from exc
                raw = json.loads(clear)
                entry = VaultEntry(raw["o"], raw["p"], int(raw["d"]))
                self._by_pseudonym[entry.pseudonym] = entry

    def record(self, original_patient_id: str, pseudonym: str, day_offset: int) -> bool:
        """Store a mapping; return False if it was already there.

        Raises:
            Conflict: ``pseudonym`` is already mapped to another original (a collision).
        """
        known = self._by_pseudonym.get(pseudonym)
        if known is not None:
            if known.original_patient_id != original_patient_id or known.day_offset != day_offset:
                raise Conflict(
                    f"pseudonym {pseudonym} already belongs to another patient",
                    hint="use a longer pseudonym format ({hex} length) to avoid collisions",
                )
            return False
        entry = VaultEntry(original_patient_id, pseudonym, day_offset)
        clear = json.dumps({"o": entry.original_patient_id, "p": entry.pseudonym, "d": entry.day_offset})
        nonce = os.urandom(12)
        line = base64.b64encode(nonce + self._aead.encrypt(nonce, clear.encode(), _AAD)) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._by_pseudonym[pseudonym] = entry
        return True

    def lookup(self, pseudonym: str) -> VaultEntry | None:
        """The mapping of ``pseudonym``, if recorded."""
        return self._by_pseudonym.get(pseudonym)

    def export(self, *, authorised: bool) -> list[VaultEntry]:
        """Every mapping in clear, sorted by pseudonym: only with ``authorised=True``.

        Raises:
            PermissionDenied: ``authorised`` was not given.
        """
        if not authorised:
            raise PermissionDenied(
                "exporting the pseudonym vault re-identifies patients",
                hint="pass the explicit authorisation flag only for an approved re-identification",
            )
        return sorted(self._by_pseudonym.values(), key=lambda e: e.pseudonym)


def export_csv(entries: list[VaultEntry]) -> str:
    """The export as CSV text (``original_patient_id,pseudonym,day_offset``), for re-identification."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["original_patient_id", "pseudonym", "day_offset"])
    for entry in entries:
        writer.writerow([entry.original_patient_id, entry.pseudonym, entry.day_offset])
    return out.getvalue()
