"""Fixtures of the node's integration tests: a real node served by uvicorn (tests/support/node_server.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.import_plugin("tests.support.node_server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/node" in str(item.path):
            item.add_marker(pytest.mark.integration)
