"""The finding a clinical-data check reports: where it is, what rule it broke, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is: errors block upload, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One finding, located the way the user sees their file.

    ``row`` is the row number in the user's spreadsheet (header is row 1) or the record number in a
    JSON file; ``None`` for findings about the whole file or a whole column. ``value`` is ``None``
    when the column is identifying, so reports never repeat a name, ID or birth date.
    """

    rule: str
    message: str
    hint: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def as_json(self) -> dict[str, str | int | None]:
        """The finding as a JSON object (the node returns these in its problem responses)."""
        return {
            "severity": self.severity.value,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
            "message": self.message,
            "hint": self.hint,
        }


def sort_key(issue: Issue) -> tuple[int, str, str]:
    """Order file-level findings first, then by row and column."""
    return (issue.row if issue.row is not None else 0, issue.column or "", issue.rule)
