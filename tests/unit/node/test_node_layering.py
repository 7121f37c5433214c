"""Import rules: the node never imports the ingest tool; the shared DICOMweb pieces import neither program."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest

import eucaim

SRC = Path(eucaim.__file__).parent


def _imports(package: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(SRC)), alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(SRC)), node.module))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("node", ("eucaim.ingest",)), ("dicomweb", ("eucaim.ingest", "eucaim.node"))],
)
def test_forbidden_imports(package: str, forbidden: tuple[str, ...]) -> None:
    imports = _imports(package)
    assert imports, f"no imports found under {package}: wrong path?"
    offending = sorted((where, name) for where, name in imports if name.startswith(forbidden))
    assert offending == []


def test_no_module_is_imported_at_package_level_with_an_app_or_engine() -> None:
    # create_app and build_context are factories: importing the package must not build anything.
    import eucaim.node.app as app_module

    assert not [
        name for name, value in vars(app_module).items() if type(value).__name__ in ("FastAPI", "Engine")
    ]


def test_store_package_exports_what_it_lists() -> None:
    import eucaim.node.store as store

    # Submodules (base, filesystem, s3, ...) become attributes once anything imports them.
    assert sorted(store.__all__) == sorted(
        name
        for name, value in vars(store).items()
        if not name.startswith("_") and name != "annotations" and not isinstance(value, ModuleType)
    )
