"""Services and the prearchive: ``/data/services/import``, ``/data/services/archive``, ``/data/prearchive``.

The import body is streamed to a temporary file before it is read (never held in memory), then
handed to :class:`~.dicom_import.DicomImporter` in a worker thread. Answers are URIs as plain text
ending in CRLF, as XNAT's ``Importer`` writes them.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from . import views
from .archiver import archive_session
from .dicom_import import DicomImporter, read_import_request
from .http_error import HttpError
from .model import PrearchiveSession
from .resolve import check_read, check_write

if TYPE_CHECKING:
    from .emulator import XnatEmulator


def _emulator(request: Request) -> XnatEmulator:
    emulator: XnatEmulator = request.app.state.emulator
    return emulator


async def import_service(request: Request) -> Response:
    emulator = _emulator(request)
    store, login = emulator.store, request.state.login
    params = dict(request.query_params)
    wanted = read_import_request(params)
    if wanted.project is not None:
        with store.lock:
            project = store.projects.get(wanted.project)
            if project is None and wanted.to_archive:
                raise HttpError(
                    404, f"Project {wanted.project} not found; create it before importing into it"
                )
            if project is not None:
                check_write(emulator.security, login, project)
    body = store.root / f"upload-{uuid.uuid4().hex}"
    try:
        with body.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        uris = await run_in_threadpool(DicomImporter(store, emulator.security, login, wanted).run, body)
    finally:
        body.unlink(missing_ok=True)
    return PlainTextResponse("".join(f"{uri}\r\n" for uri in uris))


def _prearchive_session(emulator: XnatEmulator, src: str) -> PrearchiveSession:
    url = src.removeprefix("/data").removeprefix("/archive")
    session = emulator.store.prearchive.get(url.rstrip("/"))
    if session is None:
        raise HttpError(404, f"No prearchive session at {src}")
    return session


async def archive_service(request: Request) -> Response:
    """``POST /data/services/archive?src=/prearchive/projects/P/TS/NAME``.

    Optional ``project``, ``subject``, ``session`` and ``overwrite`` as for the import service.
    """
    emulator = _emulator(request)
    params = dict(request.query_params)
    return await run_in_threadpool(_archive, emulator, params, request.state.login)


def _archive(emulator: XnatEmulator, params: dict[str, str], login: str) -> Response:
    store = emulator.store
    with store.lock:
        session = _prearchive_session(emulator, params.get("src", ""))
        project_id = params.get("project") or session.project
        project = store.projects.get(project_id)
        if project is None:
            raise HttpError(404, f"Project {project_id} not found; give an existing project with project=...")
        check_write(emulator.security, login, project)
        experiment = archive_session(
            store,
            session,
            project=project,
            subject_label=params.get("subject") or session.subject,
            label=params.get("session") or session.name,
            overwrite=params.get("overwrite", "none"),
            insert_user=login,
        )
        return PlainTextResponse(f"{views.archive_uri(experiment)}\r\n")


async def prearchive_delete(request: Request) -> Response:
    emulator = _emulator(request)
    with emulator.store.lock:
        session = _prearchive_session(emulator, request.query_params.get("src", ""))
        project = emulator.store.projects.get(session.project)
        if project is not None:
            check_write(emulator.security, request.state.login, project)
        elif not emulator.security.is_admin(request.state.login):
            raise HttpError(403, "Only site admins may delete unassigned prearchive sessions")
        emulator.store.delete_prearchive_session(session)
    return PlainTextResponse("")


async def prearchive(request: Request) -> Response:
    """``GET /data/prearchive/projects[/{P}[/{TS}/{NAME}[/scans[/{S}/resources[/{R}/files[/{F}]]]]]]``."""
    emulator = _emulator(request)
    login = request.state.login
    parts = [p for p in str(request.path_params.get("rest", "")).split("/") if p]
    with emulator.store.lock:
        if len(parts) <= 1:
            sessions = [
                s
                for s in emulator.store.prearchive.values()
                if (not parts or s.project == parts[0]) and _may_read(emulator, login, s)
            ]
            return JSONResponse(views.result_set([views.prearchive_row(s) for s in sessions]))
        session = _prearchive_session(emulator, "/prearchive/projects/" + "/".join(parts[:3]))
        if not _may_read(emulator, login, session):
            raise HttpError(403, f"User {login} may not read prearchive project {session.project}")
        return _prearchive_detail(session, parts[3:], request.url.path)


def _may_read(emulator: XnatEmulator, login: str, session: PrearchiveSession) -> bool:
    project = emulator.store.projects.get(session.project)
    if project is None:
        return emulator.security.is_admin(login)
    try:
        check_read(emulator.security, login, project)
    except HttpError:
        return False
    return True


def _prearchive_detail(session: PrearchiveSession, rest: list[str], url: str) -> Response:
    if not rest:
        return JSONResponse(views.result_set([views.prearchive_row(session)]))
    if rest == ["scans"]:
        rows = [
            {"ID": s.id, "series_description": s.data_fields.get("series_description", "")}
            for s in session.scans.values()
        ]
        return JSONResponse(views.result_set(rows))
    scan = session.scans.get(rest[1]) if len(rest) > 1 and rest[0] == "scans" else None
    if scan is None:
        raise HttpError(404, f"No prearchive object at {url}")
    if rest[2:] == ["resources"]:
        rows = [
            {
                "label": r.label,
                "file_count": str(len(r.files)),
                "file_size": str(sum(f.size for f in r.files.values())),
            }
            for r in scan.resources.values()
        ]
        return JSONResponse(views.result_set(rows))
    resource = scan.resources.get(rest[3]) if len(rest) > 3 and rest[2] == "resources" else None
    if resource is None:
        raise HttpError(404, f"No prearchive object at {url}")
    if rest[4:] == ["files"]:
        rows = [
            {"Name": f.name, "Size": str(f.size), "URI": f"{url}/{f.name}"} for f in resource.files.values()
        ]
        return JSONResponse(views.result_set(rows))
    stored = resource.files.get("/".join(rest[5:])) if rest[4:5] == ["files"] else None
    if stored is None:
        raise HttpError(404, f"No prearchive object at {url}")
    return FileResponse(Path(stored.blob), media_type="application/octet-stream")
