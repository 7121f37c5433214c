"""Rerun any node test suite on another image store: ``EUCAIM_TEST_NODE_STORE=s3|dicomweb``.

Load it as a plugin; every node the tests start (tests/support/node_server.py builds its settings
from the environment too) then keeps its images in a fresh prefix of a SeaweedFS bucket, or in the
session's Orthanc, emptied before each test::

    EUCAIM_TEST_NODE_STORE=s3 .venv/bin/pytest -p tests.support.node_store tests/integration/node
    EUCAIM_TEST_NODE_STORE=dicomweb .venv/bin/pytest -p tests.support.node_store tests/integration/node

Combine with ``EUCAIM_TEST_NODE_DATABASE=postgresql`` for PostgreSQL. Tests that look into the
filesystem store's folder (``node.store_dir``) fail by design on the other stores.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported by pytest as plugins, which must come first for assertion rewriting
    from tests.support.orthanc import OrthancServer
    from tests.support.seaweedfs import SeaweedS3


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.import_plugin("tests.support.seaweedfs")


@pytest.fixture(scope="session")
def _node_store_bucket(request: pytest.FixtureRequest) -> str | None:
    if os.environ.get("EUCAIM_TEST_NODE_STORE") != "s3":
        return None
    seaweedfs: SeaweedS3 = request.getfixturevalue("seaweedfs")
    return seaweedfs.create_bucket()


@pytest.fixture(autouse=True)
def _node_store_from_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _node_store_bucket: str | None
) -> None:
    kind = os.environ.get("EUCAIM_TEST_NODE_STORE", "filesystem")
    if kind == "s3":
        seaweedfs: SeaweedS3 = request.getfixturevalue("seaweedfs")
        assert _node_store_bucket is not None
        prefix = f"test-{uuid.uuid4().hex[:12]}"
        for name, value in seaweedfs.node_settings(_node_store_bucket, prefix).items():
            monkeypatch.setenv(name, value)
    elif kind == "dicomweb":
        orthanc: OrthancServer = request.getfixturevalue("orthanc_clean")
        monkeypatch.setenv("EUCAIM_NODE_STORE", "dicomweb")
        monkeypatch.setenv("EUCAIM_NODE_DICOMWEB_STORE_URL", orthanc.dicomweb_url)
        monkeypatch.setenv("EUCAIM_NODE_DICOMWEB_STORE_USERNAME", orthanc.username)
        monkeypatch.setenv("EUCAIM_NODE_DICOMWEB_STORE_PASSWORD", orthanc.password)
        monkeypatch.setenv("EUCAIM_NODE_DICOMWEB_STORE_ORTHANC_URL", orthanc.http_url)
    elif kind != "filesystem":
        raise pytest.UsageError(f"EUCAIM_TEST_NODE_STORE={kind!r}: choose filesystem, s3 or dicomweb")
