"""Node operations tests run real nodes (uvicorn in a thread, or eucaim-node processes)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/node_ops" in str(item.path):
            item.add_marker(pytest.mark.integration)
