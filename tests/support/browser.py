"""Debian's Chromium for Playwright: both browser suites (tests/ui, tests/ui_portal) launch it alike.

Chromium comes from Debian (``apt-get install chromium``, which `make test` runs), never from
``playwright install``: nothing is downloaded at test time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def chromium_launch_args(base: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium (skip when it is missing)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium (make test does)")
    return {
        **base,
        "executable_path": str(CHROMIUM),
        "args": [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }
