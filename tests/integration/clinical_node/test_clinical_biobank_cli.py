"""`eucaim-node biobank create --allow-clinical-only` and `biobank set`: a biobank's clinical policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eucaim.node.context import build_context
from eucaim.node.services.biobanks import get_biobank
from eucaim.node.services.clinical import clinical_policy
from eucaim.node.settings import Settings

pytestmark = pytest.mark.integration
NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]


def _run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    return subprocess.run(
        [*NODE, *args, "--data", str(data)], capture_output=True, text=True, env=env, timeout=60
    )


def _allows(data: Path, code: str) -> tuple[bool, tuple[tuple[str, str], ...]]:
    context = build_context(Settings(data_dir=data))
    try:
        with context.sessions() as session:
            policy = clinical_policy(session, biobank_id=get_biobank(session, code=code).id)
            return policy.allow_clinical_only, policy.schema.extensions
    finally:
        context.engine.dispose()


def test_clinical_only_flag_and_schema_extension_from_the_cli(tmp_path: Path) -> None:
    assert _run("user", "add", "alice", "--role", "data-ingester", data=tmp_path).returncode == 0
    open_bb = _run("biobank", "create", "open", "--name", "x", "--manager", "alice", "--allow-clinical-only",
                   data=tmp_path)  # fmt: skip
    assert open_bb.returncode == 0, open_bb.stderr
    assert (
        _run("biobank", "create", "strict", "--name", "y", "--manager", "alice", data=tmp_path).returncode
        == 0
    )
    assert _allows(tmp_path, "open") == (True, ())
    assert _allows(tmp_path, "strict") == (False, ())

    extension = tmp_path / "ext.json"
    extension.write_text(
        '{"extends": "eucaim-minimum", "name": "lung-extras", "version": "2", '
        '"fields": [{"name": "pack_years", "type": "number", "minimum": 0}]}'
    )
    changed = _run("biobank", "set", "strict", "--allow-clinical-only", "--schema-extension", str(extension),
                   data=tmp_path)  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == (
        "biobank strict: clinical-only subjects allowed; schema eucaim-minimum 1.0, extensions: lung-extras 2"
    )
    assert _allows(tmp_path, "strict") == (True, (("lung-extras", "2"),))
    back = _run("biobank", "set", "strict", "--images-required", data=tmp_path)
    assert back.returncode == 0 and "clinical-only subjects refused" in back.stdout
    assert _allows(tmp_path, "strict") == (False, (("lung-extras", "2"),))

    extension.write_text('{"extends": "other-schema", "fields": []}')
    broken = _run("biobank", "set", "strict", "--schema-extension", str(extension), data=tmp_path)
    assert broken.returncode == 1 and "extends 'other-schema'" in broken.stderr
    assert _allows(tmp_path, "strict") == (False, (("lung-extras", "2"),))
    missing = _run("biobank", "set", "nope", "--allow-clinical-only", data=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
