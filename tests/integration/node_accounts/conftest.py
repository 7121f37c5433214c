"""Fixtures of the account tests: a node trusting a loopback OIDC issuer (tests/support/oidc_issuer.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eucaim.node.oidc_settings import OidcSettings
from tests.support.node_server import RunningNode, running_node
from tests.support.oidc_issuer import OidcIssuer, running_issuer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/node_accounts" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    """A running OIDC issuer whose tokens are meant for audience ``eucaim-node``."""
    with running_issuer(client_id="eucaim-cli", audience="eucaim-node") as running:
        yield running


def oidc_settings(issuer: OidcIssuer, **overrides: object) -> OidcSettings:
    """Node OIDC settings trusting ``issuer`` (LS-AAI-like claim names can be overridden)."""
    values: dict[str, object] = {
        "issuer": issuer.url,
        "client_id": issuer.client_id,
        "audience": issuer.audience,
    }
    values.update(overrides)
    return OidcSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def oidc_node(tmp_path: Path, issuer: OidcIssuer) -> Iterator[RunningNode]:
    """A node on SQLite trusting ``issuer``, with biobanks bb1 and bb2 and a local admin user."""
    with running_node(tmp_path / "node", oidc=oidc_settings(issuer)) as node:
        node.add_user("ingester")
        node.create_biobank("bb1", managers=["ingester"])
        node.create_biobank("bb2")
        yield node
