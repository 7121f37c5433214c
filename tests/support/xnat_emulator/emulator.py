"""The handle a test holds on a running emulator: seed users and projects, inspect state, inject faults.

Everything a test needs without going through HTTP lives here, so tests can arrange a situation
(a read-only project, a collaborator, expired sessions) and then check what the client left behind
(files and their digests, the prearchive, the requests it made).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .faults import Faults
from .model import Accessibility, Experiment, PrearchiveSession, Project, Role, Subject
from .security import Security
from .store import Store

if TYPE_CHECKING:
    from .dicom_receiver import DicomReceiver


class XnatEmulator:
    """One emulated XNAT site: archive, accounts and fault knobs (thread-safe)."""

    def __init__(
        self, root: Path, *, admin: tuple[str, str] = ("admin", "admin"), session_timeout: float = 900.0
    ):
        self.store = Store(root)
        self.security = Security(session_timeout=session_timeout)
        self.faults = Faults()
        self.admin_login, self.admin_password = admin
        self.security.add_user(self.admin_login, self.admin_password, is_admin=True)
        self.requests: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._receivers: list[DicomReceiver] = []

    # ---- arrange -------------------------------------------------------------------------------

    def add_user(self, login: str, password: str, *, roles: dict[str, Role | str] | None = None) -> None:
        """Create an account, optionally with roles in existing projects."""
        self.security.add_user(login, password)
        for project_id, role in (roles or {}).items():
            self.grant(project_id, login, role)

    def issue_alias_token(self, login: str) -> tuple[str, str]:
        """An alias token (UUID) and secret that log in as ``login``."""
        return self.security.issue_alias_token(login)

    def create_project(
        self,
        project_id: str,
        *,
        owner: str | None = None,
        accessibility: Accessibility = Accessibility.PRIVATE,
    ) -> Project:
        with self.store.lock:
            project = self.store.new_project(project_id, owner or self.admin_login)
            project.accessibility = accessibility
            return project

    def grant(self, project_id: str, login: str, role: Role | str) -> None:
        with self.store.lock:
            self.project(project_id).roles[login] = Role(role)

    def make_read_only(self, project_id: str, read_only: bool = True) -> None:
        """Refuse every change to the project's data (403), for every user, until undone."""
        with self.store.lock:
            self.project(project_id).read_only = read_only

    def start_dicom_receiver(self, *, ae_title: str = "XNAT", settle_after: float = 0.0) -> DicomReceiver:
        """Start a C-STORE SCP on a free loopback port (``.port``) filing into this site; stopped on close.

        ``settle_after`` is how long after an association ends its sessions are built, as XNAT's
        session-idle timeout (0: at once).
        """
        from .dicom_receiver import DicomReceiver

        receiver = DicomReceiver(self, ae_title=ae_title, settle_after=settle_after)
        self._receivers.append(receiver)
        return receiver

    # ---- faults --------------------------------------------------------------------------------

    def expire_sessions(self) -> int:
        """End every open JSESSION now, as a server-side timeout would; return how many."""
        return self.security.expire_all()

    def fail_next(self, count: int, path_regex: str, status: int, *, method: str | None = None) -> None:
        """Answer the next ``count`` requests matching ``path_regex`` with ``status``."""
        self.faults.fail_next(count, path_regex, status, method=method)

    def drop_next_import(self, count: int = 1, *, after_bytes: int = 64 * 1024) -> None:
        """Reset the connection of the next ``count`` imports after ``after_bytes`` of their body."""
        self.faults.drop_next_import(count, after_bytes=after_bytes)

    # ---- inspect -------------------------------------------------------------------------------

    def project(self, project_id: str) -> Project:
        project = self.store.projects.get(project_id)
        if project is None:
            raise KeyError(f"The emulator has no project {project_id}")
        return project

    def subject(self, project_id: str, label: str) -> Subject:
        with self.store.lock:
            subject = self.store.subject_in(self.project(project_id), label)
        if subject is None:
            raise KeyError(f"Project {project_id} has no subject {label}")
        return subject

    def experiment(self, project_id: str, label: str) -> Experiment:
        with self.store.lock:
            experiment = self.store.experiment_in(self.project(project_id), label)
        if experiment is None:
            raise KeyError(f"Project {project_id} has no experiment {label}")
        return experiment

    def session_files(self, project_id: str, label: str) -> dict[str, dict[str, str]]:
        """Per scan ID, the DICOM resource's file names and MD5 digests of an archived session."""
        with self.store.lock:
            experiment = self.experiment(project_id, label)
            return {
                scan_id: {n: f.digest for n, f in scan.resources["DICOM"].files.items()}
                for scan_id, scan in experiment.scans.items()
                if "DICOM" in scan.resources
            }

    def prearchive_sessions(self, project_id: str | None = None) -> list[PrearchiveSession]:
        with self.store.lock:
            return [s for s in self.store.prearchive.values() if project_id in (None, s.project)]

    def settle_prearchive(self) -> int:
        """Mark sessions left RECEIVING (by a failed import) READY, as XNAT's idle timeout would.

        Returns how many changed.
        """
        with self.store.lock:
            receiving = [s for s in self.store.prearchive.values() if s.status == "RECEIVING"]
            for session in receiving:
                session.status = "READY"
        return len(receiving)

    def prearchive_file_count(self, session: PrearchiveSession) -> int:
        with self.store.lock:
            return sum(len(r.files) for scan in session.scans.values() for r in scan.resources.values())

    def log_request(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        """Record a request (the app fills in its status); tests read ``requests``.

        Each entry has ``method``, the normalised ``path``, the ``query`` parameters and ``status``.
        """
        entry: dict[str, Any] = {"method": method, "path": path, "query": query, "status": None}
        with self._log_lock:
            self.requests.append(entry)
        return entry

    def close(self) -> None:
        for receiver in self._receivers:
            receiver.close()
        self.store.close()
