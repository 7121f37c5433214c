"""Suite-wide test rules: in CI (CI=true) no test may skip; a skip becomes a failure."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Fixtures for the real parts the tests use (each module's docstring says how).
pytest_plugins = [
    "tests.support.orthanc",
    "tests.support.postgres",
    "tests.support.cohort",
    "tests.support.node_server",
    "tests.support.node_store",
    "tests.support.xnat_fixture",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which is not allowed: {report.longrepr}"
