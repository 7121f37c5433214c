"""Marks the permission-matrix tests as integration tests (they talk to a real node over HTTP)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/node_access" in str(item.path):
            item.add_marker(pytest.mark.integration)
