"""In-memory archive of the XNAT emulator: objects, their IDs, and file bytes in a temp directory.

All access goes through one re-entrant lock (``Store.lock``), held by the routes for the whole of a
request's read-modify-write, so that concurrent clients see XNAT-like atomic updates.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from .model import (
    Entity,
    Experiment,
    PrearchiveSession,
    Project,
    Resource,
    Role,
    Scan,
    StoredFile,
    Subject,
)


def xnat_timestamp(now: float) -> str:
    """XNAT's ``insert_date`` format: ``2026-11-25 11:20:00.123``."""
    millis = int((now % 1) * 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{millis:03d}"


class Store:
    """Projects, subjects, experiments (by ID), the prearchive, and blobs under ``root``."""

    def __init__(self, root: Path, *, site_id: str = "XNAT", clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.site_id = site_id
        self.clock = clock
        self.lock = threading.RLock()
        self.projects: dict[str, Project] = {}
        self.subjects: dict[str, Subject] = {}
        self.experiments: dict[str, Experiment] = {}
        self.prearchive: dict[str, PrearchiveSession] = {}
        self._subject_ids = itertools.count(1)
        self._experiment_ids = itertools.count(1)
        self._resource_ids = itertools.count(1)
        self._prearchive_ids = itertools.count(1)

    def now(self) -> str:
        return xnat_timestamp(self.clock())

    # ---- lookups -------------------------------------------------------------------------------

    def subject_in(self, project: Project, ref: str) -> Subject | None:
        """A project's subject by ID or label (XNAT accepts either in URLs)."""
        subject = self.subjects.get(ref)
        if subject is not None and subject.data_fields["project"] == project.id:
            return subject
        return next((s for s in self.subjects_of(project) if s.label == ref), None)

    def subjects_of(self, project: Project) -> list[Subject]:
        return [s for s in self.subjects.values() if s.data_fields["project"] == project.id]

    def experiment_in(self, project: Project, ref: str, subject: Subject | None = None) -> Experiment | None:
        """A project's (and optionally subject's) experiment by ID or label."""
        candidates = self.experiments_of(project, subject)
        by_id = [e for e in candidates if e.id == ref]
        return by_id[0] if by_id else next((e for e in candidates if e.label == ref), None)

    def experiments_of(self, project: Project, subject: Subject | None = None) -> list[Experiment]:
        return [
            e
            for e in self.experiments.values()
            if e.data_fields["project"] == project.id
            and (subject is None or e.data_fields["subject_ID"] == subject.id)
        ]

    @staticmethod
    def resource_in(owner: Entity, ref: str) -> Resource | None:
        """A resource by label or by its numeric ``xnat_abstractresource_id``."""
        found = owner.resources.get(ref)
        return found or next((r for r in owner.resources.values() if r.id == ref), None)

    # ---- creation ------------------------------------------------------------------------------

    def new_project(self, project_id: str, owner: str) -> Project:
        project = Project(
            xsi_type="xnat:projectData",
            data_fields={"ID": project_id, "secondary_ID": project_id, "name": project_id},
            insert_date=self.now(),
        )
        project.roles[owner] = Role.OWNER
        self.projects[project_id] = project
        return project

    def new_subject(self, project: Project, label: str) -> Subject:
        subject_id = f"{self.site_id}_S{next(self._subject_ids):05d}"
        subject = Subject(
            xsi_type="xnat:subjectData",
            data_fields={"ID": subject_id, "label": label, "project": project.id},
            insert_date=self.now(),
        )
        self.subjects[subject_id] = subject
        return subject

    def new_experiment(self, project: Project, subject: Subject, label: str, xsi_type: str) -> Experiment:
        experiment_id = f"{self.site_id}_E{next(self._experiment_ids):05d}"
        experiment = Experiment(
            xsi_type=xsi_type,
            data_fields={
                "ID": experiment_id,
                "label": label,
                "project": project.id,
                "subject_ID": subject.id,
            },
            insert_date=self.now(),
        )
        self.experiments[experiment_id] = experiment
        return experiment

    @staticmethod
    def new_scan(experiment: Experiment, scan_id: str, xsi_type: str) -> Scan:
        scan = Scan(xsi_type=xsi_type, data_fields={"ID": scan_id, "image_session_ID": experiment.id})
        experiment.scans[scan_id] = scan
        return scan

    def new_resource(
        self, owner: Entity, label: str, *, file_format: str = "", content: str = ""
    ) -> Resource:
        resource = Resource(
            id=str(next(self._resource_ids)), label=label, file_format=file_format, content=content
        )
        owner.resources[label] = resource
        return resource

    def new_prearchive_session(self, project: str, subject: str, name: str) -> PrearchiveSession:
        now = self.clock()
        # A counter in the fraction keeps timestamps unique when imports land in the same millisecond.
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(now)) + f"{next(self._prearchive_ids) % 1000:03d}"
        session = PrearchiveSession(
            project=project,
            timestamp=stamp,
            name=name,
            subject=subject,
            status="RECEIVING",
            uploaded=xnat_timestamp(now),
        )
        self.prearchive[session.url] = session
        return session

    # ---- files ---------------------------------------------------------------------------------

    def write_blob(self, chunks: Iterable[bytes]) -> tuple[Path, int, str]:
        """Write bytes to a new blob; return its path, size and MD5 hex digest (XNAT's digest)."""
        path = self.blobs / uuid.uuid4().hex
        md5 = hashlib.md5()
        size = 0
        with path.open("wb") as out:
            for chunk in chunks:
                md5.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return path, size, md5.hexdigest()

    @staticmethod
    def put_file(resource: Resource, stored: StoredFile) -> StoredFile | None:
        """Add or replace a file; return the one it replaced (its blob is then the caller's to drop)."""
        previous = resource.files.get(stored.name)
        resource.files[stored.name] = stored
        return previous

    # ---- deletion ------------------------------------------------------------------------------

    @staticmethod
    def drop_blobs(entity: Entity | Resource) -> None:
        resources = [entity] if isinstance(entity, Resource) else list(entity.resources.values())
        if isinstance(entity, Experiment):
            for scan in entity.scans.values():
                resources.extend(scan.resources.values())
        for resource in resources:
            for stored in resource.files.values():
                stored.blob.unlink(missing_ok=True)

    def delete_experiment(self, experiment: Experiment) -> None:
        self.drop_blobs(experiment)
        del self.experiments[experiment.id]

    def delete_subject(self, subject: Subject) -> None:
        for experiment in [e for e in self.experiments.values() if e.data_fields["subject_ID"] == subject.id]:
            self.delete_experiment(experiment)
        self.drop_blobs(subject)
        del self.subjects[subject.id]

    def delete_project(self, project: Project) -> None:
        for subject in self.subjects_of(project):
            self.delete_subject(subject)
        self.drop_blobs(project)
        del self.projects[project.id]

    def delete_prearchive_session(self, session: PrearchiveSession, *, keep_blobs: bool = False) -> None:
        if not keep_blobs:
            for scan in session.scans.values():
                self.drop_blobs(scan)
        self.prearchive.pop(session.url, None)

    def close(self) -> None:
        shutil.rmtree(self.blobs, ignore_errors=True)
