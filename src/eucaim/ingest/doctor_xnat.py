"""Doctor checks for an XNAT target (Health-RI node): proxy, login, version, rights, prearchive mode."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx

from eucaim.errors import EucaimError
from eucaim.ingest.doctor import Check, proxy_check
from eucaim.ingest.targets import xnat_session
from eucaim.ingest.upload.xnat_doctor import xnat_checks
from eucaim.ingest.workspace import Workspace


def xnat_node_checks(
    ws: Workspace, *, env: Mapping[str, str], now: datetime, transport: httpx.BaseTransport | None
) -> list[Check]:
    """The XNAT lines of the checklist, in the same order as a EUCAIM node's."""
    node = ws.config.node
    lines = [proxy_check(env, node.url)]
    try:
        session = xnat_session(ws, transport=transport)
    except EucaimError as exc:
        return [*lines, Check("XNAT login", False, str(exc.args[0] if exc.args else exc), exc.hint)]
    try:
        for c in xnat_checks(session, node.project, dest=node.xnat_dest or "archive"):
            lines.append(Check(c.name, c.ok, c.detail, c.hint, warning=c.warning))
    finally:
        session.close()
    return lines
