"""A real eucaim-node for tests: uvicorn in a thread on a free loopback port, fresh data folder.

Other suites use it to push to, search and retrieve from the node over real HTTP::

    from tests.support.node_server import running_node

    def test_push(tmp_path):
        with running_node(tmp_path / "node") as node:
            token = node.add_user("alice", "data-ingester")
            node.create_biobank("bb1", managers=["alice"])
            r = httpx.get(node.dicomweb_url("bb1") + "/studies", headers=node.auth(token))

or, through fixtures (register them in your conftest.py the way tests/support/orthanc.py is)::

    def pytest_configure(config):
        config.pluginmanager.import_plugin("tests.support.node_server")

    def test_push(seeded_node):  # a node with users and one biobank, fresh per test
        url = seeded_node.dicomweb_url          # .../biobanks/test-bb/dicom-web
        token = seeded_node.ingester_token      # manages test-bb; also admin_token, validator_token,
                                                # outsider_token (an ingester of another biobank)

Fixtures: ``node_server`` (an empty node: no users, no biobanks), ``seeded_node`` and
``postgres_node`` (an empty node on a fresh PostgreSQL database). The first two use SQLite in
``tmp_path``; set ``EUCAIM_TEST_NODE_DATABASE=postgresql`` to run them (and so every test built on
them) on PostgreSQL, or pass ``database_url=`` to :func:`running_node`. Every node keeps its images
in the store ``EUCAIM_TEST_NODE_STORE`` names (filesystem in ``tmp_path`` by default; see
tests/support/node_store.py), so a test asks the node what it stored with
``node.stored_objects()`` / ``node.read_object(key)`` / ``node.leftovers()``, never by looking
into a folder.
Users, tokens and biobanks are made through the node's service layer, exactly as
``eucaim-node user add`` / ``biobank create`` do. :func:`deidentified_instance` writes small valid
Part-10 files (8x8 CT/MR, PatientIdentityRemoved=YES by default) and :func:`stow_body` wraps files
in a STOW-RS multipart body.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydicom
import pytest
import uvicorn
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from eucaim.dicomweb.multipart import encode_multipart, multipart_related_type, new_boundary
from eucaim.node.app import create_app, prepare_storage
from eucaim.node.context import NodeContext, build_context
from eucaim.node.db import session_scope
from eucaim.node.roles import Role
from eucaim.node.server import build_server_config
from eucaim.node.services.accounts import create_user, issue_token
from eucaim.node.services.biobanks import create_biobank
from eucaim.node.settings import Settings

if TYPE_CHECKING:
    from tests.support.node_store import StoredObject

STARTUP_TIMEOUT = 15.0
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

# Set for the session by tests/support/node_store.py: the store settings of each new node (a fresh
# S3 prefix, the session's Orthanc); None keeps the filesystem store in the node's data folder.
store_settings_for_new_nodes: Callable[[], dict[str, object]] | None = None


@dataclass
class RunningNode:
    """A node serving on ``url`` (``http://127.0.0.1:<port>``, or https with TLS)."""

    url: str
    data_dir: Path
    settings: Settings
    context: NodeContext
    pacs_changes_since: int = 0  # a dicomweb store: Orthanc's last change before the node started

    def add_user(self, name: str, role: str | Role = Role.DATA_INGESTER) -> str:
        """Create a user and return a fresh API token for it."""
        with session_scope(self.context.sessions) as session:
            user = create_user(session, name=name, role=Role(role))
            return issue_token(session, user=user, now=datetime.now(UTC), ttl=timedelta(days=1))

    def create_biobank(self, code: str, *, managers: Sequence[str] = (), name: str | None = None) -> None:
        """Create a biobank managed by existing users."""
        with session_scope(self.context.sessions) as session:
            create_biobank(session, code=code, name=name or f"Biobank {code}", managers=managers)

    def dicomweb_url(self, code: str) -> str:
        """Return the DICOMweb root of a biobank."""
        return f"{self.url}/biobanks/{code}/dicom-web"

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        """Return the Authorization header for ``token``."""
        return {"Authorization": f"Bearer {token}"}

    @property
    def store_dir(self) -> Path:
        """Return the filesystem image store's folder (only tests marked ``filesystem_store`` look)."""
        return self.settings.resolved_store_dir

    @property
    def cli_env(self) -> dict[str, str]:
        """Return what ``eucaim-node ... --data <data_dir>`` needs to reach this node's database.

        Empty on SQLite (the database is in the data folder); the URL when the suite runs on
        PostgreSQL, which a command would otherwise miss, working on an empty SQLite file instead.
        """
        if self.settings.is_sqlite or not self.settings.database_url:
            return {}
        return {"EUCAIM_NODE_DATABASE_URL": self.settings.database_url}

    def stored_objects(self) -> dict[str, StoredObject]:
        """Return the instance objects the store holds, by key, read from the backend itself."""
        from tests.support.node_store import stored_objects

        return stored_objects(self)

    def leftovers(self) -> list[str]:
        """Return what unfinished writes left in the store (staging files, multipart uploads)."""
        from tests.support.node_store import leftovers

        return leftovers(self)

    def read_object(self, key: str) -> bytes:
        """Return an object's bytes, read through the node's own store interface."""
        with self.context.store.open(key) as f:
            return f.read()

    def delete_object(self, key: str) -> None:
        """Remove an object through the node's own store interface (an object lost behind its back)."""
        self.context.store.delete(key)


@contextmanager
def running_node(
    data_dir: Path,
    *,
    database_url: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    **settings_overrides: object,
) -> Iterator[RunningNode]:
    """Serve a node from ``data_dir`` until the block ends; the schema is migrated first.

    ``settings_overrides`` set other :class:`Settings` fields (``max_request_bytes=4096``); without
    ``store=``, the node uses the session's test store (tests/support/node_store.py).
    """
    if store_settings_for_new_nodes is not None and "store" not in settings_overrides:
        settings_overrides = store_settings_for_new_nodes() | settings_overrides
    settings = Settings(data_dir=data_dir, database_url=database_url, **settings_overrides)  # type: ignore[arg-type]
    pacs_changes_since = 0
    if settings.store == "dicomweb" and settings.dicomweb_store.orthanc_url:
        from tests.support.node_store import orthanc_last_change

        pacs_changes_since = orthanc_last_change(settings.dicomweb_store)
    context = build_context(settings)
    if database_url and not settings.is_sqlite:
        from eucaim.node.migration import upgrade_database

        upgrade_database(context.engine)
    prepare_storage(context)
    config = build_server_config(
        create_app(settings, context=context),
        host="127.0.0.1",
        port=0,  # the OS picks a free port; read back below, so no race with other tests
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="eucaim-node-test", daemon=True)
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=STARTUP_TIMEOUT)
        while not server.started:
            if not thread.is_alive() or datetime.now(UTC) > deadline:
                raise RuntimeError("eucaim-node test server did not start; see the log output above")
            thread.join(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        scheme = "https" if tls_cert else "http"
        yield RunningNode(
            url=f"{scheme}://127.0.0.1:{port}",
            data_dir=data_dir,
            settings=settings,
            context=context,
            pacs_changes_since=pacs_changes_since,
        )
    finally:
        server.should_exit = True
        thread.join(10)
        context.engine.dispose()


@dataclass
class SeededNode:
    """A running node with one biobank and a user of every kind."""

    node: RunningNode
    biobank: str
    ingester_token: str
    outsider_token: str
    validator_token: str
    admin_token: str

    @property
    def url(self) -> str:
        """Return the node's base URL."""
        return self.node.url

    @property
    def dicomweb_url(self) -> str:
        """Return the DICOMweb root of the seeded biobank."""
        return self.node.dicomweb_url(self.biobank)


@pytest.fixture
def node_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningNode]:
    """An empty node (no users, no biobanks) on SQLite in tmp_path.

    With ``EUCAIM_TEST_NODE_DATABASE=postgresql`` the node uses a fresh database on the throwaway
    PostgreSQL server of tests/support/postgres.py instead, so any suite can be re-run on it.
    """
    database_url = None
    if os.environ.get("EUCAIM_TEST_NODE_DATABASE", "sqlite") == "postgresql":
        database_url = request.getfixturevalue("postgres_database")
    with running_node(tmp_path / "node-data", database_url=database_url) as node:
        yield node


@pytest.fixture
def postgres_node(tmp_path: Path, postgres_database: str) -> Iterator[RunningNode]:
    """An empty node whose database is a fresh PostgreSQL database (needs tests.support.postgres)."""
    with running_node(tmp_path / "node-data", database_url=postgres_database) as node:
        yield node


def seed_node(node: RunningNode) -> SeededNode:
    """Give ``node`` biobank ``test-bb`` managed by ``ingester``, plus outsider/validator/admin users."""
    seeded = SeededNode(
        node=node,
        biobank="test-bb",
        ingester_token=node.add_user("ingester", Role.DATA_INGESTER),
        outsider_token=node.add_user("outsider", Role.DATA_INGESTER),
        validator_token=node.add_user("validator", Role.VALIDATOR),
        admin_token=node.add_user("admin", Role.ADMIN),
    )
    node.create_biobank("test-bb", managers=["ingester"])
    node.create_biobank("other-bb", managers=["outsider"])
    return seeded


@pytest.fixture
def seeded_node(node_server: RunningNode) -> SeededNode:
    """A node with biobank ``test-bb`` managed by ``ingester``, plus outsider/validator/admin users."""
    return seed_node(node_server)


def deidentified_instance(
    path: Path,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    modality: str = "CT",
    patient_id: str = "EUCAIM-0001",
    study_date: str = "20200101",
    instance_number: int = 1,
    identity_removed: str | None = "YES",
    pixel_seed: int = 0,
    **attributes: object,
) -> pydicom.Dataset:
    """Write a small de-identified Part-10 instance to ``path`` and return it.

    ``identity_removed=None`` leaves PatientIdentityRemoved out; extra keyword arguments set more
    attributes (``BodyPartExamined="CHEST"``).
    """
    sop_class = MR_IMAGE_STORAGE if modality == "MR" else CT_IMAGE_STORAGE
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyDate = study_date
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    if identity_removed is not None:
        ds.PatientIdentityRemoved = identity_removed
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.full((8, 8), pixel_seed, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def stow_body(parts: Sequence[Path | bytes], *, boundary: str | None = None) -> tuple[str, bytes]:
    """Return (Content-Type, body) of a STOW-RS request carrying files or raw byte parts."""
    boundary = boundary or new_boundary()
    chunks = [("application/dicom", [p.read_bytes() if isinstance(p, Path) else p]) for p in parts]
    return multipart_related_type(boundary, "application/dicom"), b"".join(encode_multipart(chunks, boundary))


def fill_biobank(node: RunningNode, folder: Path, count: int) -> dict[str, str]:
    """Make biobank ``bb`` (manager ``ing``), STOW ``count`` instances of one series written under
    ``folder``, and return storage key -> sha256 of every index row."""
    import httpx

    from eucaim.node.models import Instance

    token = node.add_user("ing", "data-ingester")
    node.create_biobank("bb", managers=["ing"])
    study, series = generate_uid(), generate_uid()
    files = [folder / f"{n}.dcm" for n in range(count)]
    for n, path in enumerate(files):
        deidentified_instance(path, study_uid=study, series_uid=series, instance_number=n, pixel_seed=n)
    content_type, body = stow_body(files)
    response = httpx.post(
        f"{node.dicomweb_url('bb')}/studies",
        content=body,
        headers=node.auth(token) | {"Content-Type": content_type},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    with node.context.sessions() as session:
        return {row.storage_key: row.sha256 for row in session.query(Instance)}
