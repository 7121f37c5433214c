"""`eucaim-node user role/disable/enable/biobanks`: the same service as the portal's admin pages."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eucaim.errors import AuthenticationError
from eucaim.node.context import build_context
from eucaim.node.db import session_scope
from eucaim.node.services.accounts import get_user
from eucaim.node.services.tokens import authenticate_api_token
from eucaim.node.settings import Settings

NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]


def _run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    return subprocess.run(
        [*NODE, *args, "--data", str(data)], capture_output=True, text=True, env=env, timeout=60
    )


def test_role_biobanks_disable_and_enable_from_the_cli(tmp_path: Path) -> None:
    admin = _run("user", "add", "root", "--role", "admin", data=tmp_path)
    assert admin.returncode == 0, admin.stderr
    token = _run("user", "add", "ann", "--role", "data-ingester", data=tmp_path).stdout.splitlines()[-1]
    assert (
        _run("biobank", "create", "bb-1", "--name", "Lung", "--manager", "root", data=tmp_path).returncode
        == 0
    )

    role = _run("user", "role", "ann", "--role", "validator", data=tmp_path)
    assert (role.returncode, role.stdout.strip()) == (0, "user ann is now validator")
    banks = _run("user", "biobanks", "ann", "bb-1", data=tmp_path)
    assert (banks.returncode, banks.stdout.strip()) == (0, "user ann manages: bb-1")
    missing = _run("user", "biobanks", "ann", "bb-9", data=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "error: biobank 'bb-9' does not exist on this node",
    )
    disabled = _run("user", "disable", "ann", data=tmp_path)
    assert disabled.stdout.strip() == "user ann disabled: their tokens no longer work"

    context = build_context(Settings(data_dir=tmp_path))  # type: ignore[call-arg]
    try:
        with session_scope(context.sessions) as session:
            user = get_user(session, name="ann")
            assert (user.role.value, [b.code for b in user.managed_biobanks]) == ("validator", ["bb-1"])
            with pytest.raises(AuthenticationError, match="is disabled"):
                authenticate_api_token(session, token=token, now=datetime.now(UTC))
        assert _run("user", "enable", "ann", data=tmp_path).returncode == 0
        with session_scope(context.sessions) as session:
            assert authenticate_api_token(session, token=token, now=datetime.now(UTC)).name == "ann"
    finally:
        context.engine.dispose()

    last = _run("user", "disable", "root", data=tmp_path)
    assert (last.returncode, last.stderr.strip()) == (
        1,
        "error: user 'root' is the node's last active admin (make another user admin first)",
    )
