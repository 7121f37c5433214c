"""The import service's DICOM handlers (``DICOM-zip``, ``gradual-DICOM``): archive body to sessions.

Follows XNAT's ``DicomZipImporter``: members are read one by one and each DICOM file is written to
a prearchive session (one per project and StudyInstanceUID, one scan per SeriesInstanceUID, files in
resource ``DICOM``) as soon as it is read. A member that is not DICOM stops the import with 400,
unless ``Ignore-Unparsable=true``; files read before it stay in the prearchive (status RECEIVING),
as on a real XNAT. At the end each session is archived (``dest=/archive``, ``Direct-Archive=true``,
or a project whose prearchive code is 4 or 5) or left in the prearchive (status READY).

Routing, as ``Xnat15DicomProjectIdentifier`` and ``ClassicDicomObjectIdentifier``: explicit
parameters win; then ``Project: P Subject: S Session: E`` (and ``AA:true``, archive at once) in
PatientComments, StudyComments or AdditionalPatientHistory; then subject = PatientName and session =
PatientID. A routed project that does not exist sends the session to ``Unassigned``.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pydicom
from pydicom.errors import InvalidDicomError

from . import views
from .archiver import OVERWRITE_MODES, archive_session, free_scan_id
from .http_error import HttpError
from .model import PrearchiveSession, Project, Scan, StoredFile, types_for_modality
from .security import Security
from .store import Store

HANDLERS = frozenset({"DICOM-zip", "gradual-DICOM"})
UNASSIGNED = "Unassigned"
_ROUTING_TAGS = ("PatientComments", "StudyComments", "AdditionalPatientHistory")
_REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


@dataclass(frozen=True)
class ImportRequest:
    """The import service's query parameters, checked."""

    handler: str
    to_archive: bool
    overwrite: str
    project: str | None
    subject: str | None
    session: str | None
    ignore_unparsable: bool


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "false").lower() == "true"


def read_import_request(params: Mapping[str, str]) -> ImportRequest:
    """Read the query of ``POST /data/services/import``.

    Raises:
        HttpError: 400 for an unknown handler, destination or overwrite mode.
    """
    handler = params.get("import-handler", "DICOM-zip")
    if handler not in HANDLERS:
        raise HttpError(
            400, f"import-handler={handler!r} is not supported here (use DICOM-zip or gradual-DICOM)"
        )
    overwrite = params.get("overwrite", "none")
    if overwrite not in OVERWRITE_MODES:
        raise HttpError(400, f"overwrite={overwrite!r} is not one of none, append, delete")
    dest = params.get("dest", "/prearchive")
    project = params.get("project") or params.get("PROJECT_ID")
    subject = params.get("subject") or params.get("SUBJECT_ID")
    session = params.get("session") or params.get("EXPT_LABEL")
    match = re.fullmatch(
        r"/(archive|prearchive)(?:/projects/([^/]+)(?:/subjects/([^/]+))?(?:/experiments/([^/]+))?)?/?", dest
    )
    if match is None:
        match = re.fullmatch(r"/prearchive/projects/([^/]+)(?:/[^/]+/([^/]+))?/?", dest)
        if match is None:
            raise HttpError(
                400, f"dest={dest!r} is neither /archive[/projects/P...] nor /prearchive[/projects/P]"
            )
        project = project or match[1]
        session = session or match[2]
        to_archive = False
    else:
        to_archive = match[1] == "archive" or _flag(params, "Direct-Archive")
        project, subject, session = project or match[2], subject or match[3], session or match[4]
    return ImportRequest(
        handler=handler,
        to_archive=to_archive,
        overwrite=overwrite,
        project=project,
        subject=subject,
        session=session,
        ignore_unparsable=_flag(params, "Ignore-Unparsable"),
    )


def routing_from_dicom(ds: pydicom.Dataset) -> dict[str, str]:
    """``project``/``subject``/``session`` from ``Project: P Subject: S Session: E`` comments."""
    found: dict[str, str] = {}
    for keyword in _ROUTING_TAGS:
        text = str(ds.get(keyword, "") or "")
        for key in ("Project", "Subject", "Session", "AA"):
            match = re.search(rf"\b{key}\s*:\s*([^\s;,]+)", text)
            if match and key.lower() not in found:
                found[key.lower()] = match[1]
    return found


def dicom_file_name(ds: pydicom.Dataset) -> str:
    """XNAT's default name ``${StudyInstanceUID}-${SeriesNumber}-${InstanceNumber}-${hash}.dcm``.

    XNAT's hash is a Java hash of SOP Class and Instance UIDs; this one is a short SHA-1 of the same.
    """
    digest = hashlib.sha1(f"{ds.SOPClassUID}{ds.SOPInstanceUID}".encode()).hexdigest()[:8]
    series, instance = ds.get("SeriesNumber", "") or 0, ds.get("InstanceNumber", "") or 0
    return f"{ds.StudyInstanceUID}-{series}-{instance}-{digest}.dcm"


class DicomImporter:
    """One run of the import service over one uploaded body."""

    def __init__(self, store: Store, security: Security, login: str, request: ImportRequest) -> None:
        self.store = store
        self.security = security
        self.login = login
        self.request = request
        self.sessions: dict[tuple[str, str], PrearchiveSession] = {}
        self.auto_archive: set[tuple[str, str]] = set()

    def run(self, body: Path) -> list[str]:
        """Import ``body``; return the URIs of the archived or prearchived sessions."""
        parsed = 0
        for name, blob, size, digest in self._members(body):
            ds = self._read_dicom(name, blob)
            if ds is None:
                continue
            with self.store.lock:
                self.add_file(ds, blob, size, digest)
            parsed += 1
        if parsed == 0:
            raise HttpError(400, "The upload contained no DICOM files; nothing was imported")
        return [self.finish(session) for session in self.sessions.values()]

    def _members(self, body: Path) -> Iterator[tuple[str, Path, int, str]]:
        """Each member's name and its bytes written to a blob, in archive order."""
        if self.request.handler == "gradual-DICOM":
            blob, size, digest = self.store.write_blob(_chunks(body.open("rb")))
            yield "request body", blob, size, digest
            return
        with ExitStack() as stack:
            if zipfile.is_zipfile(body):
                archive = stack.enter_context(zipfile.ZipFile(body))
                members: Iterator[tuple[str, IO[bytes]]] = (
                    (info.filename, stack.enter_context(archive.open(info)))
                    for info in archive.infolist()
                    if not info.is_dir()
                )
            elif tarfile.is_tarfile(body):
                tar = stack.enter_context(tarfile.open(body, "r:*"))
                members = ((m.name, _extract(tar, m)) for m in tar if m.isfile())
            else:
                raise HttpError(
                    400, "The request body is not a zip, tar or tgz archive; nothing was imported"
                )
            for name, handle in members:
                blob, size, digest = self.store.write_blob(_chunks(handle))
                yield name, blob, size, digest

    def _read_dicom(self, name: str, blob: Path) -> pydicom.Dataset | None:
        try:
            ds = pydicom.dcmread(blob, stop_before_pixels=True)
            missing = [k for k in _REQUIRED_UIDS if not ds.get(k)]
            if missing:
                raise InvalidDicomError(f"missing {', '.join(missing)}")
        # Whatever pydicom trips over is the member's fault, and XNAT answers 400 for it.
        except Exception as error:
            blob.unlink(missing_ok=True)
            if self.request.ignore_unparsable:
                return None
            raise HttpError(
                400,
                f"Unable to parse {name} as DICOM ({error}); files before it were stored in the prearchive."
                " Fix or remove the file, or import with Ignore-Unparsable=true",
            ) from error
        return ds

    def add_file(self, ds: pydicom.Dataset, blob: Path, size: int, digest: str) -> None:
        """File one DICOM instance (already in ``blob``) into its prearchive session; hold the lock."""
        routed = routing_from_dicom(ds)
        routed_project = routed.get("project")
        if routed_project not in self.store.projects:
            # XNAT files instances naming an unknown project under Unassigned.
            routed_project = None
        project = self.request.project or routed_project or UNASSIGNED
        if routed.get("aa", "").lower() == "true":
            self.auto_archive.add((project, str(ds.StudyInstanceUID)))
        subject = self.request.subject or routed.get("subject") or str(ds.get("PatientName", "") or "")
        label = self.request.session or routed.get("session") or str(ds.get("PatientID", "") or "")
        if not label:
            label = f"session_{hashlib.sha1(str(ds.StudyInstanceUID).encode()).hexdigest()[:8]}"
        key = (project, str(ds.StudyInstanceUID))
        session = self.sessions.get(key) or self._receiving_session(project, str(ds.StudyInstanceUID), label)
        if session is None:
            session = self.store.new_prearchive_session(project, subject, label)
            _describe_session(session, ds)
            self.sessions[key] = session
        scan = _scan_for(session, ds)
        resource = scan.resources.get("DICOM") or self.store.new_resource(
            scan, "DICOM", file_format="DICOM", content="RAW"
        )
        stored = StoredFile(
            name=dicom_file_name(ds), size=size, digest=digest, blob=blob, file_format="DICOM"
        )
        replaced = self.store.put_file(resource, stored)
        if replaced is not None:
            replaced.blob.unlink(missing_ok=True)
        scan.data_fields["frames"] = str(len(resource.files))

    def _receiving_session(self, project: str, study_uid: str, label: str) -> PrearchiveSession | None:
        """For gradual-DICOM, the prearchive session the study is already arriving in (XNAT merges)."""
        if self.request.handler != "gradual-DICOM":
            return None
        for session in self.store.prearchive.values():
            if (session.project, session.tag, session.name) == (project, study_uid, label):
                self.sessions[(project, study_uid)] = session
                return session
        return None

    def finish(self, session: PrearchiveSession) -> str:
        """Archive the session or leave it READY in the prearchive; return its URI."""
        with self.store.lock:
            session.status = "READY"
            project = self.store.projects.get(session.project)
            auto = project is not None and project.prearchive_code in (4, 5)
            auto = auto or (session.project, session.tag) in self.auto_archive
            if not (self.request.to_archive or auto):
                return session.data_url
            if project is None:
                session.status = "ERROR"
                raise HttpError(
                    400 if session.project == UNASSIGNED else 404,
                    f"Cannot archive session {session.name}: project {session.project!r} does not exist;"
                    " give an existing project ID with project=...",
                )
            self._check_write(project)
            overwrite = self.request.overwrite
            if auto and not self.request.to_archive and project.prearchive_code == 5:
                overwrite = "delete"
            experiment = archive_session(
                self.store,
                session,
                project=project,
                subject_label=session.subject,
                label=session.name,
                overwrite=overwrite,
                insert_user=self.login,
            )
            return views.archive_uri(experiment)

    def _check_write(self, project: Project) -> None:
        if project.read_only or not self.security.can_write(self.login, project):
            raise HttpError(403, f"User {self.login} may not add sessions to project {project.id}")


def _describe_session(session: PrearchiveSession, ds: pydicom.Dataset) -> None:
    session_type, _ = types_for_modality(str(ds.get("Modality", "")))
    session.session_xsi_type = session_type
    session.tag = str(ds.StudyInstanceUID)
    date, time_ = str(ds.get("StudyDate", "") or ""), str(ds.get("StudyTime", "") or "")
    session.scan_date = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else ""
    session.scan_time = f"{time_[:2]}:{time_[2:4]}:{time_[4:6]}" if len(time_) >= 6 else ""
    # Real XNAT copies these identifying headers into the session; a de-identification test can look.
    session.session_fields = {
        "UID": str(ds.StudyInstanceUID),
        "date": session.scan_date,
        "time": session.scan_time,
        "modality": str(ds.get("Modality", "") or ""),
        "scanner": str(ds.get("StationName", "") or ""),
        "dcmAccessionNumber": str(ds.get("AccessionNumber", "") or ""),
        "dcmPatientId": str(ds.get("PatientID", "") or ""),
        "dcmPatientName": str(ds.get("PatientName", "") or ""),
    }


def _scan_for(session: PrearchiveSession, ds: pydicom.Dataset) -> Scan:
    uid = str(ds.SeriesInstanceUID)
    for scan in session.scans.values():
        if scan.data_fields.get("UID") == uid:
            return scan
    modality = str(ds.get("Modality", "") or "")
    _, scan_type = types_for_modality(modality)
    scan_id = free_scan_id(session.scans, str(ds.get("SeriesNumber", "") or len(session.scans) + 1), modality)
    description = str(ds.get("SeriesDescription", "") or "")
    scan = Scan(
        xsi_type=scan_type,
        data_fields={
            "ID": scan_id,
            "type": description,
            "series_description": description,
            "UID": uid,
            "modality": modality,
            "quality": "usable",
        },
    )
    session.scans[scan_id] = scan
    return scan


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:
        raise HttpError(400, f"Cannot read {member.name} from the tar archive")
    return handle


def _chunks(handle: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk
