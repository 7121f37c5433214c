"""`eucaim-ingest --help` and light commands start without loading DICOM, networking or PACS stacks.

Every command module is imported at start-up to register its command, so one heavy import at
module level (pydicom, pynetdicom, httpx) slows every command, `--help` included. STYLE §7 keeps
heavy imports inside command bodies; these tests keep it that way.
"""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from eucaim.ingest.cli import app
from eucaim.ingest.cli.pacs import ListColumn, Method
from eucaim.ingest.pacs_intake import RetrieveMethod
from eucaim.ingest.sources.querylist import QueryColumn

HEAVY = ("pydicom", "pynetdicom", "httpx", "numpy", "eucaim.ingest.workspace", "eucaim.ingest.pipeline")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _heavy(_modules_after("import eucaim.ingest.cli")) == []


def test_help_loads_no_heavy_module_and_lists_every_command() -> None:
    code = (
        "import sys\nfrom eucaim.ingest.cli import main\nsys.argv = ['eucaim-ingest', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert _heavy(_modules_after(code)) == []
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = "init scan push status doctor pacs receive deid clinical dataset ui login biobank nifti"
    for command in [*commands.split(), "demo", "profiles", "check", "vault"]:
        assert f" {command} " in result.stdout, command


def test_pacs_choices_mirror_the_enums_they_stand_for() -> None:
    # cli/pacs.py keeps its own copies so that start-up does not import pynetdicom and pydicom.
    assert [c.value for c in ListColumn] == [c.value for c in QueryColumn]
    assert [m.value for m in Method] == [m.value for m in RetrieveMethod]
