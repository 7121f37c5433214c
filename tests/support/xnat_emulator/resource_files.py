"""Resources and their files: create a resource, upload (raw body, streamed to disk), list with digests.

Upload semantics follow XNAT: ``PUT .../resources/{R}/files/{path}`` with the file as the raw body
creates the resource if needed; an existing file is replaced only with ``overwrite=true`` (else 409);
``extract=true`` unpacks a zip or tar body into the resource. Listings give ``Name``, ``Size``,
``URI`` and the MD5 ``digest`` that clients verify uploads with.
"""

from __future__ import annotations

import hashlib
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from . import views
from .http_error import HttpError
from .model import Entity, Experiment, Project, Resource, Scan, StoredFile, Subject
from .paths import ArchivePath
from .resolve import Resolved, check_write, resolve

if TYPE_CHECKING:
    from .emulator import XnatEmulator


def owner_uri(found: Resolved) -> str:
    """The canonical URI of the object holding the resource, as XNAT writes it in file URIs."""
    owner = found.owner
    if isinstance(owner, Scan):
        assert found.experiment is not None
        return f"{views.experiment_uri(found.experiment)}/scans/{owner.id}"
    if isinstance(owner, Experiment):
        return views.experiment_uri(owner)
    if isinstance(owner, Subject):
        return views.subject_uri(owner)
    assert isinstance(owner, Project)
    return views.project_uri(owner.id)


def list_files(found: Resolved) -> list[dict[str, str]]:
    resource = found.resource
    assert resource is not None
    uri = f"{owner_uri(found)}/resources/{resource.id}"
    return [views.file_row(f, resource, uri) for f in resource.files.values()]


def put_resource(emulator: XnatEmulator, found: Resolved, label: str, params: dict[str, str]) -> Response:
    """Create resource ``label`` on the found owner (idempotent: an existing one is updated)."""
    owner = found.owner
    assert owner is not None
    label = params.get("xnat:resourceCatalog/label") or label
    resource = emulator.store.resource_in(owner, label)
    is_new = resource is None
    if resource is None:
        resource = emulator.store.new_resource(owner, label)
    resource.file_format = (
        params.get("xnat:resourceCatalog/format") or params.get("format") or resource.file_format
    )
    resource.content = params.get("xnat:resourceCatalog/content") or params.get("content") or resource.content
    resource.tags = params.get("xnat:resourceCatalog/tags") or params.get("tags") or resource.tags
    return PlainTextResponse(resource.id, status_code=201 if is_new else 200)


async def put_file(
    emulator: XnatEmulator, request: Request, path: ArchivePath, params: dict[str, str], login: str
) -> Response:
    """Store the request body as file ``path.file`` (or unpack it, with ``extract=true``)."""
    store = emulator.store
    overwrite = params.get("overwrite", "false").lower() == "true"
    extract = params.get("extract", "false").lower() == "true"
    name = path.file or ""
    with store.lock:
        found = _resolve_owner(emulator, path, login)
        resource = store.resource_in(found.owner or Entity(xsi_type=""), path.resource or "")
        if resource is not None and name in resource.files and not overwrite and not extract:
            raise HttpError(
                409,
                f"File {name} already exists in resource {resource.label}; add overwrite=true to replace it",
            )
    blob, size, digest = await _receive_body(store.blobs, request)
    with store.lock:
        found = _resolve_owner(emulator, path, login)
        owner = found.owner
        assert owner is not None
        resource = store.resource_in(owner, path.resource or "") or store.new_resource(
            owner, path.resource or ""
        )
        if extract:
            stored = _extract_into(emulator, resource, blob, overwrite)
            blob.unlink(missing_ok=True)
            return PlainTextResponse(f"{stored} files extracted")
        if name in resource.files and not overwrite:
            blob.unlink(missing_ok=True)
            raise HttpError(
                409, f"File {name} already exists in resource {resource.label}; add overwrite=true"
            )
        new = StoredFile(
            name=name,
            size=size,
            digest=digest,
            blob=blob,
            file_format=params.get("format", ""),
            content=params.get("content", ""),
            tags=params.get("tags", ""),
        )
        replaced = store.put_file(resource, new)
        if replaced is not None:
            replaced.blob.unlink(missing_ok=True)
    return PlainTextResponse("")


def _resolve_owner(emulator: XnatEmulator, path: ArchivePath, login: str) -> Resolved:
    owner_level = next(
        level for level in ("scan", "experiment", "subject", "project") if getattr(path, level) is not None
    )
    found = resolve(emulator.store, path, upto=owner_level)
    assert found.project is not None
    check_write(emulator.security, login, found.project)
    return found


async def _receive_body(directory: Path, request: Request) -> tuple[Path, int, str]:
    """Stream the body (raw, or the first file of a multipart form) to a new blob."""
    blob = directory / uuid.uuid4().hex
    md5 = hashlib.md5()
    size = 0
    with blob.open("wb") as out:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            upload = next((v for v in form.values() if not isinstance(v, str)), None)
            if upload is None:
                raise HttpError(400, "The multipart upload holds no file part")
            while chunk := await upload.read(1 << 20):
                md5.update(chunk)
                size += len(chunk)
                out.write(chunk)
        else:
            async for chunk in request.stream():
                md5.update(chunk)
                size += len(chunk)
                out.write(chunk)
    return blob, size, md5.hexdigest()


def _extract_into(emulator: XnatEmulator, resource: Resource, archive: Path, overwrite: bool) -> int:
    store = emulator.store
    members: list[tuple[str, bytes]] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            members = [(i.filename, zipped.read(i)) for i in zipped.infolist() if not i.is_dir()]
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    members.append((member.name, handle.read()))
    else:
        raise HttpError(400, "extract=true needs a zip, tar or tgz body")
    for name, _ in members:
        if name in resource.files and not overwrite:
            raise HttpError(
                409, f"File {name} already exists in resource {resource.label}; add overwrite=true"
            )
    for name, data in members:
        blob, size, digest = store.write_blob([data])
        replaced = store.put_file(resource, StoredFile(name=name, size=size, digest=digest, blob=blob))
        if replaced is not None:
            replaced.blob.unlink(missing_ok=True)
    return len(members)
