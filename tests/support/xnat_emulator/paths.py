"""Parse an archive URL (``/data/projects/P/subjects/S/experiments/E/scans/1/resources/DICOM/files/a.dcm``).

XNAT serves the same object under several URLs: ``/data``, ``/data/archive`` and ``/REST`` are
aliases (the app rewrites those first), and ``/data/subjects/{ID}`` and ``/data/experiments/{ID}``
are site-wide shortcuts. This module only reads the URL's shape; looking the objects up is the
routes' job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# Which collection may follow which level, and the level it leads to.
_CHILDREN: dict[str, dict[str, str]] = {
    "root": {"projects": "project", "subjects": "subject", "experiments": "experiment"},
    "project": {"subjects": "subject", "experiments": "experiment", "resources": "resource"},
    "subject": {"experiments": "experiment", "resources": "resource"},
    "experiment": {"scans": "scan", "resources": "resource"},
    "scan": {"resources": "resource"},
    "resource": {"files": "file"},
}
# Project attributes addressed as /projects/{P}/{attribute}[/{value}].
PROJECT_ATTRIBUTES = frozenset({"accessibility", "prearchive_code", "users"})


@dataclass(frozen=True)
class ArchivePath:
    """The objects a URL names, outermost first; ``collection`` is set when it ends at a listing."""

    project: str | None = None
    subject: str | None = None
    experiment: str | None = None
    scan: str | None = None
    resource: str | None = None
    file: str | None = None
    collection: str | None = None
    attribute: str | None = None
    attribute_args: tuple[str, ...] = ()

    @property
    def level(self) -> str:
        """The innermost level named (``project`` ... ``file``), or ``root``."""
        for name in ("file", "resource", "scan", "experiment", "subject", "project"):
            if getattr(self, name) is not None:
                return name
        return "root"


class UnknownPath(ValueError):
    """A URL that is not part of the archive API."""


def parse_archive_path(path: str) -> ArchivePath:
    """Read ``/data/...`` (already normalised) into an :class:`ArchivePath`.

    Raises:
        UnknownPath: the URL does not follow XNAT's archive hierarchy.
    """
    if not path.startswith("/data/"):
        raise UnknownPath(path)
    segments = [s for s in path[len("/data/") :].split("/") if s != ""]
    found = ArchivePath()
    level = "root"
    index = 0
    while index < len(segments):
        name = segments[index]
        if level == "project" and name in PROJECT_ATTRIBUTES:
            return replace(found, attribute=name, attribute_args=tuple(segments[index + 1 :]))
        child = _CHILDREN.get(level, {}).get(name)
        if child is None:
            raise UnknownPath(path)
        if index + 1 == len(segments):
            return replace(found, collection=name)
        if child == "file":
            # File paths keep their own slashes (sub-folders inside a resource).
            return replace(found, file="/".join(segments[index + 1 :]))
        ids: dict[str, Any] = {child: segments[index + 1]}
        found = replace(found, **ids)
        level = child
        index += 2
    return found
