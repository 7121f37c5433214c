"""Find the objects an archive URL names and check the caller may act on them.

Answers as XNAT does: 404 for what does not exist or what the caller may not even see (a private
project), 403 for what they see but may not read or change (a protected project, a collaborator
writing, a read-only project).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from .http_error import HttpError
from .model import Entity, Experiment, Project, Resource, Scan, StoredFile, Subject
from .paths import ArchivePath
from .security import Security
from .store import Store

T = TypeVar("T")


@dataclass
class Resolved:
    """The objects found along an :class:`ArchivePath` (None where the URL stops earlier)."""

    project: Project | None = None
    subject: Subject | None = None
    experiment: Experiment | None = None
    scan: Scan | None = None
    resource: Resource | None = None
    file: StoredFile | None = None

    @property
    def owner(self) -> Entity | None:
        """The innermost object that can hold resources."""
        return self.scan or self.experiment or self.subject or self.project


def resolve(store: Store, path: ArchivePath, *, upto: str) -> Resolved:
    """Look up every object of ``path`` down to level ``upto`` (inclusive).

    Raises:
        HttpError: 404 naming the first object that does not exist.
    """
    found = Resolved()
    if upto == "root":
        return found
    order = ("project", "subject", "experiment", "scan", "resource", "file")
    for level in order[: order.index(upto) + 1]:
        ref = getattr(path, level)
        if ref is None:
            continue
        _resolve_level(store, found, level, ref)
    return found


def _resolve_level(store: Store, found: Resolved, level: str, ref: str) -> None:
    if level == "project":
        found.project = _must(store.projects.get(ref), f"Project {ref}")
    elif level == "subject":
        subject = store.subject_in(found.project, ref) if found.project else store.subjects.get(ref)
        found.subject = _must(subject, f"Subject {ref}")
        found.project = store.projects[found.subject.data_fields["project"]]
    elif level == "experiment":
        if found.project is not None:
            experiment = store.experiment_in(found.project, ref, found.subject)
        else:
            experiment = store.experiments.get(ref)
        found.experiment = _must(experiment, f"Experiment {ref}")
        found.project = store.projects[found.experiment.data_fields["project"]]
        found.subject = store.subjects[found.experiment.data_fields["subject_ID"]]
    elif level == "scan":
        assert found.experiment is not None
        found.scan = _must(
            found.experiment.scans.get(ref), f"Scan {ref} of experiment {found.experiment.label}"
        )
    elif level == "resource":
        owner = found.owner
        assert owner is not None
        found.resource = _must(store.resource_in(owner, ref), f"Resource {ref}")
    elif level == "file":
        assert found.resource is not None
        found.file = _must(found.resource.files.get(ref), f"File {ref} of resource {found.resource.label}")


def _must(value: T | None, what: str) -> T:
    if value is None:
        raise HttpError(404, f"{what} not found")
    return value


def check_read(security: Security, login: str, project: Project) -> None:
    """Raise 404 if the caller cannot see the project, 403 if they see but cannot read it."""
    if not security.can_see(login, project):
        raise HttpError(404, f"Project {project.id} not found")
    if not security.can_read(login, project):
        raise HttpError(403, f"User {login} has no read access to project {project.id}")


def check_write(security: Security, login: str, project: Project) -> None:
    """Raise 403 unless the caller may change the project's data (and it is not read-only)."""
    check_read(security, login, project)
    if project.read_only:
        raise HttpError(403, f"Project {project.id} is read-only; no data can be added or changed")
    if not security.can_write(login, project):
        raise HttpError(
            403, f"User {login} may not change data in project {project.id} (needs member or owner)"
        )


def check_own(security: Security, login: str, project: Project) -> None:
    """Raise 403 unless the caller owns the project (or is a site admin)."""
    check_write(security, login, project)
    if not security.can_own(login, project):
        raise HttpError(403, f"Only owners of project {project.id} may change its settings")
