"""Fixtures of the job tests: SeaweedFS (PostgreSQL comes from tests/conftest.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.import_plugin("tests.support.seaweedfs")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/node_jobs" in str(item.path):
            item.add_marker(pytest.mark.integration)
