"""The de-identification profile page, linked from Review: the workspace profile's effective rules.

The same function as ``eucaim-ingest profile show NAME`` (``RuleSet.effective_rules`` and
``default_rules``): every element the profile names, its action and where the rule comes from,
then what happens to everything else. Pure and quick (a table in memory), so no job.
"""

from __future__ import annotations

import shlex
from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import ProfileError
from eucaim.ingest.web.deps import has_workspace, open_workspace, render, settings_of

router = APIRouter()


@router.get("/profile", response_class=HTMLResponse)
def profile_page(request: Request, action: str = "") -> Response:
    """The workspace profile's rules, optionally only those of one ``action`` (remove, keep, ...)."""
    from eucaim.deid.profile import load_profile
    from eucaim.deid.rules import RuleSet

    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    with open_workspace(settings) as ws:
        name = ws.config.deid.profile
    commands = [shlex.join(["eucaim-ingest", "profile", "show", name]), "eucaim-ingest profiles"]
    try:
        profile = load_profile(name)
    except ProfileError as exc:
        return render(
            request,
            "profile.html",
            "review",
            status_code=422,
            profile_name=name,
            error=str(exc),
            commands=commands,
        )
    rules = RuleSet(profile)
    rows = rules.effective_rules()
    counts = Counter(str(row.action) for row in rows)
    action = action if action in counts else ""
    shown = [row for row in rows if not action or str(row.action) == action]
    return render(
        request,
        "profile.html",
        "review",
        profile_name=name,
        error="",
        profile=profile,
        rows=shown,
        total=len(rows),
        counts=sorted(counts.items(), key=lambda item: (-item[1], item[0])),
        action=action,
        defaults=rules.default_rules(),
        commands=commands,
    )
