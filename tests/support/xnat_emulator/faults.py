"""Faults a test can inject into the emulator: failing requests and connections dropped mid-upload.

A test arms a fault on the handle; the app's middleware consumes it on the next matching request.
Each fault fires a fixed number of times and then disarms itself, so a retrying client recovers.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class FailRule:
    """Answer the next ``remaining`` requests whose path matches ``pattern`` with ``status``."""

    pattern: re.Pattern[str]
    status: int
    remaining: int
    method: str | None = None
    body: str = ""


@dataclass
class Faults:
    """The armed faults; thread-safe, since requests are served from several threads."""

    rules: list[FailRule] = field(default_factory=list)
    drop_imports: int = 0
    drop_after_bytes: int = 64 * 1024
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self, count: int, path_regex: str, status: int, *, method: str | None = None, body: str = ""
    ) -> None:
        """Make the next ``count`` requests whose path matches ``path_regex`` (``re.search``) fail.

        The path is the normalised one (``/REST`` and ``/data/archive`` read as ``/data``).
        """
        rule = FailRule(
            pattern=re.compile(path_regex),
            status=status,
            remaining=count,
            method=method.upper() if method else None,
            body=body or f"Injected failure ({status}) by the XNAT emulator",
        )
        with self._lock:
            self.rules.append(rule)

    def drop_next_import(self, count: int = 1, *, after_bytes: int = 64 * 1024) -> None:
        """Close the connection of the next ``count`` imports after reading ``after_bytes`` of the body."""
        with self._lock:
            self.drop_imports += count
            self.drop_after_bytes = after_bytes

    def take_failure(self, method: str, path: str) -> FailRule | None:
        """The rule that fires for this request, consuming one use of it, or None."""
        with self._lock:
            for rule in self.rules:
                if rule.remaining > 0 and (rule.method in (None, method)) and rule.pattern.search(path):
                    rule.remaining -= 1
                    return rule
            return None

    def take_drop(self) -> int | None:
        """How many body bytes to read before dropping this import's connection, or None."""
        with self._lock:
            if self.drop_imports <= 0:
                return None
            self.drop_imports -= 1
            return self.drop_after_bytes

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.drop_imports = 0
