"""Fixtures for the XNAT target tests: an emulated XNAT project, a scanned workspace bound to it."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import Cohort, generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import PushOptions
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.targets import build_xnat_target
from eucaim.ingest.upload.http import RetryPolicy
from eucaim.ingest.upload.xnat import XnatTarget
from eucaim.ingest.upload.xnat_session import XnatSession
from eucaim.ingest.workspace import Workspace
from tests.support.xnat_emulator import XnatEmulator
from tests.support.xnat_fixture import XnatServer

PROJECT = "EUCAIM_TEST"
USER, PASSWORD = "uploader", "uploader-password"
OPTIONS = PushOptions(workers=2, concurrency=2, batch_bytes=64 * 1024)  # several zips per study


@dataclass
class XnatSite:
    """The served emulator with a project the uploader is a member of."""

    server: XnatServer
    project: str = PROJECT

    @property
    def emulator(self) -> XnatEmulator:
        return self.server.emulator


@pytest.fixture
def xnat_site(xnat_server: XnatServer) -> XnatSite:
    emulator = xnat_server.emulator
    emulator.create_project(PROJECT)
    emulator.add_user(USER, PASSWORD, roles={PROJECT: "owner"})
    return XnatSite(xnat_server)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """Two patients with short series, written once: tests read the source files, never change them."""
    return generate_cohort(tmp_path_factory.mktemp("xnat-cohort"), patients=2, slices=(2, 3))


@pytest.fixture
def ws(tmp_path: Path, xnat_site: XnatSite, cohort: Cohort) -> Iterator[Workspace]:
    node = NodeConfig(kind="xnat", url=xnat_site.server.url, biobank=PROJECT, username=USER)
    workspace = Workspace.create(tmp_path / "ws", node, token=PASSWORD)
    scan_paths(workspace.state, [cohort.root])
    yield workspace
    workspace.close()


def fast_target(ws: Workspace) -> XnatTarget:
    """The workspace's XNAT target with retries that wait milliseconds, not seconds."""
    node = ws.config.node
    session = XnatSession(
        node.url,
        lambda: (USER, ws.token),
        retry=RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.05),
    )
    return build_xnat_target(ws, session=session)


def archive_digests(site: XnatSite) -> Counter[str]:
    """MD5 → count over every archived session of the project."""
    emulator = site.emulator
    with emulator.store.lock:
        labels = [e.label for e in emulator.store.experiments_of(emulator.project(site.project))]
    found: Counter[str] = Counter()
    for label in labels:
        for files in emulator.session_files(site.project, label).values():
            found.update(files.values())
    return found


def session_labels(site: XnatSite) -> dict[str, str]:
    """Archived session label → its subject's label."""
    emulator = site.emulator
    with emulator.store.lock:
        project = emulator.project(site.project)
        subjects = {s.id: s.label for s in emulator.store.subjects_of(project)}
        return {
            e.label: subjects.get(e.data_fields.get("subject_ID", ""), "?")
            for e in emulator.store.experiments_of(project)
        }


def verified_md5s(ws: Workspace) -> Counter[str]:
    """MD5 of every verified instance's de-identified bytes, from the outbox kept by the test."""
    return Counter(
        hashlib.md5(Path(r.out_path or "").read_bytes()).hexdigest()
        for r in ws.state.instances([InstanceState.VERIFIED])
    )
