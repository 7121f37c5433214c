"""The permission matrix: every endpoint × every role (anonymous, own/other ingester, validator, admin).

The rights live in ``rights_*.py`` files next to this one, one line per endpoint. The first test
walks the app's OpenAPI description and fails for an endpoint without a line (or a line without an
endpoint), so every endpoint added later must declare who may call it. The second calls every
endpoint as every role on a real node and checks the answer against its line.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from eucaim.node.app import create_app
from eucaim.node.settings import Settings
from tests.support.node_server import RunningNode, deidentified_instance, running_node, stow_body

ROLES = ("anonymous", "own", "other", "validator", "admin")
# Mutating calls come last within an endpoint, so an admin's approve does not change what others see.
CALL_ORDER = ("anonymous", "other", "validator", "own", "admin")
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _rights_modules() -> list[ModuleType]:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("rights_*.py"))
    return [importlib.import_module(f"tests.integration.node_access.{name}") for name in names]


MODULES = _rights_modules()
RIGHTS: dict[str, str] = {}
PROBES: dict[str, dict[str, Any]] = {}
for _module in MODULES:
    RIGHTS.update(_module.RIGHTS)
    PROBES.update(getattr(_module, "PROBES", {}))


def _expected(line: str) -> dict[str, str]:
    words = line.split()
    assert len(words) == len(ROLES), f"a rights line has {len(ROLES)} words ({' '.join(ROLES)}): {line!r}"
    assert all(w == "ok" or (w.isdigit() and len(w) == 3) for w in words), f"bad word in {line!r}"
    return dict(zip(ROLES, words, strict=True))


def test_every_endpoint_declares_its_rights(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    endpoints = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    missing = sorted(endpoints - RIGHTS.keys())
    stale = sorted(RIGHTS.keys() - endpoints)
    template = "\n".join(f'    "{e}": "anonymous own other validator admin",' for e in missing)
    assert not missing, (
        f"{len(missing)} endpoint(s) declare no rights; add a line for each to a "
        f"tests/integration/node_access/rights_<area>.py (each word: ok or a status):\n{template}"
    )
    assert not stale, f"rights declared for endpoints that no longer exist: {stale}"
    for line in RIGHTS.values():
        _expected(line)


@dataclass
class Probe:
    """A node with one user per role, two biobanks, one stored instance and pending requests."""

    node: RunningNode
    tokens: dict[str, str | None]
    values: dict[str, str]
    files: Path
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, prefix: str) -> str:
        """Return a fresh identifier (codes, names) for calls that must not collide."""
        return f"{prefix}-{next(self._counter)}"

    def call(self, endpoint: str, role: str) -> httpx.Response:
        method, template = endpoint.split(" ", 1)
        probe = PROBES.get(endpoint, {})
        values = dict(self.values)
        for name, key in probe.get("params", {}).items():
            # A shared value by name, else the literal given (e.g. a pseudonym nobody has).
            values[name] = self.values.get(key, key)
        url = self.node.url + template.format(**values)
        token = self.tokens[role]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: dict[str, Any] = {}
        if probe.get("stow"):
            study = values["study"] if "{study}" in template else None
            path = self.files / f"{self.unique('stow')}.dcm"
            deidentified_instance(path, study_uid=study, patient_id="EUCAIM-MATRIX")
            content_type, body = stow_body([path])
            headers["Content-Type"] = content_type
            kwargs["content"] = body
        elif "json" in probe:
            body_or_maker = probe["json"]
            kwargs["json"] = body_or_maker(self) if callable(body_or_maker) else body_or_maker
        return httpx.request(method, url, headers=headers, timeout=30, **kwargs)


def _request(node: RunningNode, token: str, code: str) -> str:
    response = httpx.post(
        f"{node.url}/biobank-requests", headers=node.auth(token), json={"code": code, "name": code}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    base = tmp_path_factory.mktemp("matrix")
    with running_node(base / "node") as node:
        tokens: dict[str, str | None] = {
            "anonymous": None,
            "own": node.add_user("ingester", "data-ingester"),
            "other": node.add_user("outsider", "data-ingester"),
            "validator": node.add_user("validator", "validator"),
            "admin": node.add_user("admin", "admin"),
        }
        node.create_biobank("test-bb", managers=["ingester"])
        node.create_biobank("other-bb", managers=["outsider"])
        instance = deidentified_instance(base / "seed.dcm", patient_id="EUCAIM-SEED")
        content_type, body = stow_body([base / "seed.dcm"])
        stored = httpx.post(
            f"{node.dicomweb_url('test-bb')}/studies",
            headers={**node.auth(str(tokens["own"])), "Content-Type": content_type},
            content=body,
        )
        assert stored.status_code == 200, stored.text
        own = str(tokens["own"])
        values = {
            "code": "test-bb",
            "study": str(instance.StudyInstanceUID),
            "series": str(instance.SeriesInstanceUID),
            "instance": str(instance.SOPInstanceUID),
            "request_id": _request(node, own, "asked-bb"),
            "approvable_request": _request(node, own, "approve-me"),
            "declinable_request": _request(node, own, "decline-me"),
        }
        files = base / "files"
        files.mkdir()
        probe = Probe(node=node, tokens=tokens, values=values, files=files)
        for module in MODULES:
            prepare: Callable[[Probe], None] | None = getattr(module, "prepare", None)
            if prepare is not None:
                prepare(probe)
        yield probe


@pytest.mark.parametrize("endpoint", list(RIGHTS))
def test_each_role_gets_what_the_matrix_says(probe: Probe, endpoint: str) -> None:
    expected = _expected(RIGHTS[endpoint])
    seen: dict[str, str] = {}
    for role in CALL_ORDER:
        status = probe.call(endpoint, role).status_code
        seen[role] = "ok" if 200 <= status < 300 else str(status)
    wrong = {
        role: f"expected {expected[role]}, got {seen[role]}" for role in ROLES if seen[role] != expected[role]
    }
    assert not wrong, f"{endpoint}: {wrong}"
