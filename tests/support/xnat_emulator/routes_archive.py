"""The archive API: GET, PUT and DELETE on projects, subjects, experiments, scans, resources, files.

One endpoint serves every archive URL (``/data/projects/...``, ``/data/subjects/{ID}``,
``/data/experiments/{ID}``; aliases are rewritten before routing): it parses the URL, looks the
objects up and dispatches on method and level. Creation follows XNAT: ``PUT`` with ``xsiType`` and
xpath query parameters, answering the object's ID (201 when new, 200 when updated).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from . import views
from .http_error import HttpError
from .model import Accessibility, Entity, Project, Role
from .paths import ArchivePath, UnknownPath, parse_archive_path
from .resolve import Resolved, check_own, check_read, check_write, resolve
from .resource_files import list_files, put_file, put_resource
from .store import Store
from .xpath import XpathError, apply_xpaths

if TYPE_CHECKING:
    from .emulator import XnatEmulator

SCHEMA_DIR = Path(__file__).parent / "schemas"
EXPERIMENT_BASES = ("xnat:experimentData", "xnat:subjectAssessorData", "xnat:imageSessionData")
SCAN_BASES = ("xnat:imageScanData",)


@functools.cache
def known_types() -> frozenset[str]:
    """Every ``xnat:`` complex type the served schema defines (XNAT refuses other xsiTypes)."""
    text = (SCHEMA_DIR / "xnat.xsd").read_text(encoding="utf-8")
    return frozenset(f"xnat:{name}" for name in re.findall(r'<xs:complexType name="(\w+)"', text))


async def archive_endpoint(request: Request) -> Response:
    emulator: XnatEmulator = request.app.state.emulator
    login: str = request.state.login
    try:
        path = parse_archive_path(request.url.path)
    except UnknownPath:
        raise HttpError(404, f"No REST resource at {request.url.path}") from None
    params = dict(request.query_params)
    if request.method == "PUT" and path.level == "file":
        return await put_file(emulator, request, path, params, login)
    return await run_in_threadpool(_dispatch, emulator, request.method, path, params, login)


def _dispatch(
    emulator: XnatEmulator, method: str, path: ArchivePath, params: dict[str, str], login: str
) -> Response:
    store, security = emulator.store, emulator.security
    with store.lock:
        if path.attribute is not None:
            return _project_attribute(emulator, method, path, login)
        if method == "GET":
            return _get(emulator, path, params, login)
        if method == "PUT":
            return _put(emulator, path, params, login)
        if method == "DELETE":
            found = resolve(store, path, upto=path.level)
            if found.project is None:
                raise HttpError(405, "The site root cannot be deleted")
            (check_own if path.level == "project" else check_write)(security, login, found.project)
            _delete(emulator, path, found)
            return PlainTextResponse("")
        raise HttpError(405, f"{method} is not allowed on {path.level} URLs")


# ---- GET ---------------------------------------------------------------------------------------


def _get(emulator: XnatEmulator, path: ArchivePath, params: dict[str, str], login: str) -> Response:
    store, security = emulator.store, emulator.security
    found = resolve(store, path, upto=path.level)
    if found.project is not None:
        check_read(security, login, found.project)
    if path.collection is not None:
        rows = _listing(emulator, path.collection, found, login)
        # XNAT honours columns= and filters only on its search-backed listings; file lists ignore them.
        if path.collection not in {"projects", "subjects", "experiments"}:
            return JSONResponse(views.result_set(rows))
        return JSONResponse(views.result_set(views.filter_rows(rows, params), params.get("columns")))
    if path.level == "file":
        assert found.file is not None
        return FileResponse(found.file.blob, media_type="application/octet-stream")
    if path.level == "resource":
        assert found.resource is not None
        return Response(views.catalog_xml(found.resource), media_type="text/xml")
    if found.scan is not None:
        item = views.entity_item(found.scan, views.resource_children(found.scan.resources, "file"))
    elif found.experiment is not None:
        item = views.experiment_item(found.experiment)
    elif found.subject is not None:
        item = views.entity_item(
            found.subject, views.resource_children(found.subject.resources, "resources/resource")
        )
    else:
        assert found.project is not None
        item = views.entity_item(
            found.project, views.resource_children(found.project.resources, "resources/resource")
        )
    return JSONResponse(views.items(item))


def _listing(emulator: XnatEmulator, collection: str, found: Resolved, login: str) -> list[dict[str, str]]:
    store, security = emulator.store, emulator.security
    if collection == "projects":
        return [views.project_row(p) for p in store.projects.values() if security.can_see(login, p)]
    if collection == "files":
        assert found.resource is not None
        return list_files(found)
    if collection == "resources":
        owner = found.owner
        assert owner is not None
        category = "scans" if found.scan else "resources"
        return [views.resource_row(r, category, owner.id) for r in owner.resources.values()]
    if collection == "scans":
        assert found.experiment is not None
        uri = views.experiment_uri(found.experiment)
        return [views.scan_row(s, uri) for s in found.experiment.scans.values()]
    readable = [p for p in store.projects.values() if security.can_read(login, p)]
    if collection == "subjects":
        projects = [found.project] if found.project else readable
        return [views.subject_row(s) for p in projects for s in store.subjects_of(p)]
    if collection == "experiments":
        projects = [found.project] if found.project else readable
        return [views.experiment_row(e) for p in projects for e in store.experiments_of(p, found.subject)]
    raise HttpError(404, f"No listing named {collection}")


# ---- PUT ---------------------------------------------------------------------------------------


def _put(emulator: XnatEmulator, path: ArchivePath, params: dict[str, str], login: str) -> Response:
    store, security = emulator.store, emulator.security
    if path.collection is not None or path.level == "root":
        raise HttpError(405, "PUT needs an object URL, not a listing")
    if path.level == "project":
        return _put_project(emulator, path.project or "", params, login)
    found = resolve(store, path, upto=_parent_level(path.level))
    assert found.project is not None
    check_write(security, login, found.project)
    try:
        if path.level == "subject":
            return _put_subject(emulator, found.project, path.subject or "", params, login)
        if path.level == "experiment":
            return _put_experiment(emulator, found, path.experiment or "", params, login)
        if path.level == "scan":
            return _put_scan(found, path.scan or "", params)
    except XpathError as error:
        raise HttpError(400, str(error)) from None
    return put_resource(emulator, found, path.resource or "", params)


def _parent_level(level: str) -> str:
    return {"subject": "project", "experiment": "subject", "scan": "experiment", "resource": "scan"}[level]


def _created(entity: Entity, is_new: bool) -> Response:
    return PlainTextResponse(entity.id, status_code=201 if is_new else 200)


def _put_project(emulator: XnatEmulator, project_id: str, params: dict[str, str], login: str) -> Response:
    store, security = emulator.store, emulator.security
    project = store.projects.get(project_id)
    is_new = project is None
    if project is None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", project_id):
            raise HttpError(400, f"Project ID {project_id!r} may contain only letters, digits, - and _")
        project = store.new_project(project_id, login)
    else:
        check_own(security, login, project)
    try:
        apply_xpaths(project, params, ("xnat:projectData",))
    except XpathError as error:
        raise HttpError(400, str(error)) from None
    return _created(project, is_new)


def _put_subject(
    emulator: XnatEmulator, project: Project, ref: str, params: dict[str, str], login: str
) -> Response:
    store = emulator.store
    subject = store.subject_in(project, ref)
    is_new = subject is None
    if subject is None:
        label = params.get("xnat:subjectData/label") or params.get("label") or ref
        subject = store.new_subject(project, label)
        subject.data_fields["insert_user"] = login
    if "label" in params:
        subject.data_fields["label"] = params["label"]
    apply_xpaths(subject, params, ("xnat:subjectData",))
    return _created(subject, is_new)


def _put_experiment(
    emulator: XnatEmulator, found: Resolved, ref: str, params: dict[str, str], login: str
) -> Response:
    store = emulator.store
    assert found.project is not None
    experiment = store.experiment_in(found.project, ref, found.subject)
    is_new = experiment is None
    if experiment is None:
        xsi_type = params.get("xsiType") or params.get("xsitype") or ""
        if xsi_type not in known_types() or not xsi_type.endswith("Data"):
            raise HttpError(400, f"Creating experiment {ref} needs a known xsiType (got {xsi_type!r})")
        if found.subject is None:
            raise HttpError(400, f"Experiment {ref} can only be created under a subject URL")
        label = params.get(f"{xsi_type}/label") or params.get("label") or ref
        if store.experiment_in(found.project, label) is not None:
            raise HttpError(409, f"Experiment {label} already exists in project {found.project.id}")
        experiment = store.new_experiment(found.project, found.subject, label, xsi_type)
        experiment.data_fields["insert_user"] = login
    if "label" in params:
        experiment.data_fields["label"] = params["label"]
    for flag, status in (("activate", "active"), ("quarantine", "quarantined")):
        if params.get(flag) == "true":
            experiment.data_fields["status"] = status
    apply_xpaths(experiment, params, (experiment.xsi_type, *EXPERIMENT_BASES))
    return _created(experiment, is_new)


def _put_scan(found: Resolved, ref: str, params: dict[str, str]) -> Response:
    experiment = found.experiment
    assert experiment is not None
    scan = experiment.scans.get(ref)
    is_new = scan is None
    if scan is None:
        xsi_type = params.get("xsiType") or "xnat:otherDicomScanData"
        if xsi_type not in known_types():
            raise HttpError(400, f"Creating scan {ref} needs a known xsiType (got {xsi_type!r})")
        scan = Store.new_scan(experiment, ref, xsi_type)
    apply_xpaths(scan, params, (scan.xsi_type, *SCAN_BASES))
    return _created(scan, is_new)


# ---- DELETE ------------------------------------------------------------------------------------


def _delete(emulator: XnatEmulator, path: ArchivePath, found: Resolved) -> None:
    store = emulator.store
    if path.level == "file":
        assert found.resource is not None and found.file is not None
        del found.resource.files[found.file.name]
        found.file.blob.unlink(missing_ok=True)
    elif path.level == "resource":
        owner, resource = found.owner, found.resource
        assert owner is not None and resource is not None
        store.drop_blobs(resource)
        del owner.resources[resource.label]
    elif path.level == "scan":
        assert found.experiment is not None and found.scan is not None
        store.drop_blobs(found.scan)
        del found.experiment.scans[found.scan.id]
    elif path.level == "experiment":
        assert found.experiment is not None
        store.delete_experiment(found.experiment)
    elif path.level == "subject":
        assert found.subject is not None
        store.delete_subject(found.subject)
    else:
        assert found.project is not None
        store.delete_project(found.project)


# ---- project attributes ------------------------------------------------------------------------


def _project_attribute(emulator: XnatEmulator, method: str, path: ArchivePath, login: str) -> Response:
    store, security = emulator.store, emulator.security
    project = resolve(store, path, upto="project").project
    assert project is not None
    args = path.attribute_args
    if method == "GET":
        check_read(security, login, project)
        if path.attribute == "accessibility":
            return PlainTextResponse(project.accessibility.value)
        if path.attribute == "prearchive_code":
            return PlainTextResponse(str(project.prearchive_code))
        rows = [
            {"login": u, "GROUP_ID": f"{project.id}_{r.value}", "displayname": r.group}
            for u, r in project.roles.items()
        ]
        return JSONResponse(views.result_set(rows))
    if method not in {"PUT", "DELETE"} or (method == "DELETE" and path.attribute != "users"):
        raise HttpError(405, f"{method} is not allowed on /{path.attribute}")
    check_own(security, login, project)
    if path.attribute == "accessibility" and len(args) == 1:
        try:
            project.accessibility = Accessibility(args[0].lower())
        except ValueError:
            raise HttpError(400, f"Accessibility {args[0]!r} is not private, protected or public") from None
        return PlainTextResponse(project.accessibility.value)
    if path.attribute == "prearchive_code" and len(args) == 1:
        if args[0] not in {"0", "4", "5"}:
            raise HttpError(400, f"Prearchive code {args[0]!r} is not 0, 4 or 5")
        project.prearchive_code = int(args[0])
        return PlainTextResponse(args[0])
    if path.attribute == "users" and len(args) == 2:
        group, user = args
        if method == "DELETE":
            project.roles.pop(user, None)
            return PlainTextResponse("")
        roles = {r.group.lower(): r for r in Role} | {r.value: r for r in Role}
        if group.lower() not in roles or user not in security.users:
            raise HttpError(404, f"Unknown group {group} or user {user}")
        project.roles[user] = roles[group.lower()]
        return PlainTextResponse("")
    raise HttpError(400, f"Malformed /{path.attribute} URL: expected one value after it")
