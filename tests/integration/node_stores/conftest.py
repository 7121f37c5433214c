"""Fixtures of the image store tests: SeaweedFS (S3), Orthanc (DICOMweb) and the node in a thread."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    for plugin in ("tests.support.node_server", "tests.support.seaweedfs", "tests.support.orthanc"):
        config.pluginmanager.import_plugin(plugin)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/node_stores" in str(item.path):
            item.add_marker(pytest.mark.integration)
