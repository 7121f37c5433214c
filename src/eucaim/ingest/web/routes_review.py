"""Step 3: review what was indexed (series table with filters), the de-identification dry run, quarantine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.deid.preview import Preview
from eucaim.ingest.state.db import InstanceRow
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.web.deps import cli, has_workspace, open_workspace, render, settings_of
from eucaim.ingest.workspace import Workspace

router = APIRouter()
# The dry run de-identifies in memory, one file at a time; a sample keeps the page quick on big cohorts.
PREVIEW_SAMPLE = 200
# A browser table past a few thousand rows stops being readable or quick; filters narrow it.
MAX_ROWS = 2000


@dataclass
class SeriesLine:
    """One row of the review table."""

    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    states: Counter[str] = field(default_factory=Counter)

    @property
    def instances(self) -> int:
        return sum(self.states.values())


def series_lines(rows: list[InstanceRow]) -> list[SeriesLine]:
    """Group instance rows into series, in patient/study/series order."""
    lines: dict[str, SeriesLine] = {}
    for r in rows:
        line = lines.setdefault(r.series_uid, SeriesLine(r.patient_id, r.study_uid, r.series_uid, r.modality))
        line.states[r.state.value] += 1
    return sorted(lines.values(), key=lambda s: (s.patient_id, s.study_uid, s.series_uid))


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, modality: str = "", state: str = "", preview: bool = False) -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    with open_workspace(settings) as ws:
        rows = ws.state.instances()
        profile = ws.config.deid.profile
        dry_run = _preview(ws, rows[:PREVIEW_SAMPLE]) if preview and rows else None
    all_lines = series_lines(rows)
    lines = [
        s
        for s in all_lines
        if (not modality or s.modality == modality) and (not state or s.states.get(state))
    ]
    matching = len(lines)
    lines = lines[:MAX_ROWS]
    quarantined = [r for r in rows if r.state is InstanceState.QUARANTINED]
    return render(
        request,
        "review.html",
        "review",
        lines=lines,
        matching=matching,
        total=len(all_lines),
        modalities=sorted({s.modality for s in all_lines}),
        states=[s.value for s in InstanceState],
        modality=modality,
        state=state,
        quarantined=quarantined,
        dry_run=dry_run,
        profile=profile,
        sample=min(len(rows), PREVIEW_SAMPLE),
        root=settings.workspace,
        commands=[cli(settings, "status"), cli(settings, "check")],
    )


def _preview(ws: Workspace, rows: list[InstanceRow]) -> Preview:
    """The same dry run as ``eucaim-ingest check`` over ``rows``' source files."""
    from eucaim.deid.engine import Deidentifier
    from eucaim.deid.files import read_for_preview
    from eucaim.deid.preview import preview
    from eucaim.deid.profile import load_profile

    deidentifier = Deidentifier(
        load_profile(ws.config.deid.profile), ws.secret, pseudonym_format=ws.config.deid.pseudonym_format
    )
    return preview(read_for_preview([Path(r.path) for r in rows]), deidentifier)
