"""Doctor checks for an XNAT target: login, version, rights on the project, prearchive mode.

Each check is one :class:`XnatCheck` (name, ok, detail, hint), in the order a data manager fixes
them; once the login fails the rest are reported as not checked. ``eucaim-ingest doctor`` turns
them into its own lines (``TARGET_CHECKS["xnat"]``); this module does not import the doctor so the
doctor can import it. The verdicts (``version_check``, ``rights_check``, ``prearchive_check``) are
pure functions of what XNAT answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from eucaim.errors import EucaimError
from eucaim.ingest.upload.xnat_session import XnatSession, check_status

MIN_VERSION = (1, 7)
WRITE_ROLES = frozenset({"owners", "members", "owner", "member"})


@dataclass(frozen=True)
class XnatCheck:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    warning: bool = False


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def version_check(version: str) -> XnatCheck:
    """XNAT 1.7 or later is needed (the import service parameters and ``/xapi`` we use)."""
    found = _version_tuple(version)
    if not found:
        return XnatCheck("XNAT version", True, f"unknown ({version!r})", "XNAT 1.7 or later is needed", True)
    if found < MIN_VERSION:
        return XnatCheck("XNAT version", False, version, "XNAT 1.7 or later is needed; ask the node operator")
    return XnatCheck("XNAT version", True, version)


def rights_check(project: str, role: str | None, *, is_owner_needed: bool = False) -> XnatCheck:
    """Members and owners may import; only owners may release (change accessibility)."""
    name = f"rights on project {project}"
    if role is None:
        return XnatCheck(
            name, False, "no role in the project", "ask the project owner to add you as a member (or owner)"
        )
    if role.lower() not in WRITE_ROLES:
        return XnatCheck(
            name, False, f"{role}: read only", "ask the project owner to make you a member or owner"
        )
    if role.lower().startswith("owner"):
        return XnatCheck(name, True, f"{role}: may send data and release the project")
    return XnatCheck(
        name,
        True,
        f"{role}: may send data; releasing the project needs an owner",
        warning=is_owner_needed,
    )


def prearchive_check(code: str, dest: str) -> XnatCheck:
    """Does the project's prearchive mode fit where this workspace imports to?"""
    modes = {"0": "prearchive (manual archiving)", "4": "auto-archive", "5": "auto-archive, overwrite"}
    detail = f"project mode {modes.get(code, code)}; this workspace imports to the {dest}"
    if dest == "prearchive" and code in ("4", "5"):
        return XnatCheck(
            "XNAT prearchive mode",
            True,
            detail,
            "the project archives at once, so imports will not wait in the prearchive for review",
            warning=True,
        )
    return XnatCheck("XNAT prearchive mode", True, detail)


def xnat_checks(session: XnatSession, project: str, *, dest: str = "archive") -> list[XnatCheck]:
    """Log in, then read the version, the caller's role in ``project`` and its prearchive mode."""
    try:
        session.login()
    except EucaimError as exc:
        skipped = ["XNAT version", f"rights on project {project}", "XNAT prearchive mode"]
        return [
            XnatCheck("XNAT login", False, str(exc.args[0]) if exc.args else str(exc), exc.hint),
            *(XnatCheck(name, False, "not checked: login failed") for name in skipped),
        ]
    checks = [XnatCheck("XNAT login", True, f"logged in to {session.url}")]
    checks.append(_probe("XNAT version", lambda: version_check(_version(session))))
    checks.append(
        _probe(f"rights on project {project}", lambda: rights_check(project, _role(session, project)))
    )
    checks.append(
        _probe("XNAT prearchive mode", lambda: prearchive_check(_prearchive_code(session, project), dest))
    )
    return checks


def _probe(name: str, run: Callable[[], XnatCheck]) -> XnatCheck:
    try:
        return run()
    except EucaimError as exc:
        return XnatCheck(name, False, str(exc.args[0]) if exc.args else str(exc), exc.hint)


def _version(session: XnatSession) -> str:
    info = session.json("xapi/siteConfig/buildInfo", what="reading the XNAT version")
    return str(info.get("version", "")) if isinstance(info, dict) else ""


def _role(session: XnatSession, project: str) -> str | None:
    rows = session.json("xapi/access/projects", what="reading your project roles")
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("ID") == project:
            return str(row.get("role", "")) or None
    return None


def _prearchive_code(session: XnatSession, project: str) -> str:
    response = session.request(
        "GET", f"data/projects/{quote(project, safe='')}/prearchive_code", what="reading the prearchive mode"
    )
    check_status(response, f"reading the prearchive mode of project {project}")
    return response.text.strip()
