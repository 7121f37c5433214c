"""The whole exception tree of eucaim, shared by both programs.

    EucaimError
     ├── ConfigError          bad or missing configuration (workspace, settings, profile files)
     │    └── ProfileError    a de-identification profile that cannot be loaded
     ├── InvalidDicomError    a file that is not DICOM, is truncated or lacks required attributes
     ├── DeidentificationError an instance that cannot be de-identified safely (fail closed)
     ├── ClinicalDataError    clinical input that cannot be read
     ├── StateError           an illegal state transition or a corrupt state database
     ├── NotFound             a thing that does not exist (biobank, user, dataset, instance)
     ├── Conflict             a request that contradicts what is stored
     ├── PermissionDenied     the caller lacks the right to do this
     ├── UploadError          a target refused data permanently (carries the node's reason)
     │    └── AuthenticationError  the target refused our credentials
     └── TransientError       a failure worth retrying (network, 408, 429, 5xx)

Every error carries the fields a user needs to act (path, tag, status code) and a message that
says what failed, on what, and what to do next. ``TransientError`` is the only retryable class;
retries happen in one layer (the upload transport).
"""

from __future__ import annotations

from pathlib import Path


class EucaimError(Exception):
    """Root of every error eucaim raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} ({self.hint})" if self.hint else base


class ConfigError(EucaimError):
    """Configuration is missing or invalid."""


class ProfileError(ConfigError):
    """A de-identification profile cannot be loaded or is inconsistent."""


class InvalidDicomError(EucaimError):
    """A file is not usable DICOM: not DICOM at all, truncated, or missing required attributes."""

    def __init__(
        self, message: str, *, path: Path | None = None, reason: str = "invalid_dicom", hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        # A short machine-readable cause: not_dicom, truncated, unreadable, empty, missing_attribute...
        self.reason = reason


class DeidentificationError(EucaimError):
    """An instance cannot be de-identified safely; it must be quarantined, never sent."""

    def __init__(self, message: str, *, reason: str = "deid_failed", tag: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.tag = tag


class ClinicalDataError(EucaimError):
    """Clinical input cannot be read at all (as opposed to rows that fail validation)."""


class StateError(EucaimError):
    """An illegal state transition or an unusable state database."""


class NotFound(EucaimError):
    """The requested object does not exist."""


class Conflict(EucaimError):
    """The request contradicts what is already stored."""


class PermissionDenied(EucaimError):
    """The caller is authenticated but not allowed to do this."""


class UploadError(EucaimError):
    """A target refused data permanently."""

    def __init__(self, message: str, *, status_code: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code


class AuthenticationError(UploadError):
    """The target refused our credentials (401)."""


class TransientError(EucaimError):
    """A failure that may go away when retried: network errors, 408, 429, 5xx."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
