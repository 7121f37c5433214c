"""Browser tests of `eucaim-ingest ui`: Debian's Chromium through Playwright, the UI served in a thread.

Chromium comes from Debian (``apt-get install chromium``), never from ``playwright install``; see
/work/shared/research/ui-testing.md. axe-core comes from npm, installed by ``make test`` into the
repository's node_modules/ (git-ignored), never committed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from eucaim.ingest.web.app import create_app, new_token
from eucaim.ingest.web.deps import UiSettings
from eucaim.node.oidc_settings import OidcSettings
from tests.support.browser import chromium_launch_args
from tests.support.node_server import RunningNode, running_node
from tests.support.oidc_issuer import OidcIssuer, running_issuer

ARTIFACTS = Path(__file__).parent / "artifacts"
# `make test` installs axe-core at the repository root; a local `npm install --prefix tests/ui` works too.
AXE_CANDIDATES = tuple(
    folder / "node_modules" / "axe-core" / "axe.min.js"
    for folder in (Path(__file__).parents[2], Path(__file__).parent)
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium (Playwright's own browsers are never downloaded here)."""
    return chromium_launch_args(browser_type_launch_args)


@pytest.fixture(scope="session")
def base_url() -> str | None:
    # pytest-base-url's own fixture is an instance method, which pytest now warns about (an error
    # here, under filterwarnings=error); each test builds its URLs from its own server anyway.
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # A laptop screen: the pages must work at this size.
    return {**browser_context_args, "viewport": {"width": 1366, "height": 820}}


@dataclass
class RunningUi:
    """The UI served for one workspace; ``login_url`` signs the browser in."""

    url: str
    settings: UiSettings

    @property
    def login_url(self) -> str:
        return f"{self.url}/login?token={self.settings.token}"


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[RunningUi]:
    """The UI for workspace tmp_path/ws, its folder picker rooted at tmp_path, on a free loopback port."""
    settings = UiSettings(workspace=tmp_path / "ws", browse_root=tmp_path, token=new_token())
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="eucaim-ingest-ui-test", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the UI server did not start")
        thread.join(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningUi(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        settings.jobs.wait(60)
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """Folder for this test's screenshots (tests/ui/artifacts/<test name>/)."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def axe_script() -> Path:
    found = [path for path in AXE_CANDIDATES if path.is_file()]
    if not found:
        why = f"axe-core is not installed (looked for {AXE_CANDIDATES[0]}); `make test` installs it from npm"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    return found[0]


@pytest.fixture
def oidc_issuer() -> Iterator[OidcIssuer]:
    """The loopback OIDC issuer (tests/support/oidc_issuer.py), client ``eucaim-cli``."""
    with running_issuer(client_id="eucaim-cli", audience="eucaim-node") as issuer:
        yield issuer


@pytest.fixture
def oidc_node(tmp_path: Path, oidc_issuer: OidcIssuer) -> Iterator[RunningNode]:
    """A node on SQLite trusting ``oidc_issuer``, with biobanks bb1 and bb2 (as the CLI login tests use)."""
    oidc = OidcSettings(
        issuer=oidc_issuer.url, client_id=oidc_issuer.client_id, audience=oidc_issuer.audience
    )
    with running_node(tmp_path / "node", oidc=oidc) as node:
        node.add_user("ingester")
        node.create_biobank("bb1", managers=["ingester"])
        node.create_biobank("bb2")
        yield node
