"""Release an XNAT project: check every verified instance is there, then set its accessibility.

On XNAT, "publishing" a dataset means making the project ``protected`` (its existence and metadata
visible to every user, data only to members) or ``public``. That must not happen to a half-sent
project, so the release first asks XNAT, series by series, for every instance the state DB holds
as verified, and refuses while any is missing or any instance still waits to be sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from eucaim.errors import Conflict, UploadError
from eucaim.ingest.state.db import StateDB
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.xnat import XnatTarget
from eucaim.ingest.upload.xnat_session import check_status

logger = logging.getLogger(__name__)

Accessibility = Literal["private", "protected", "public"]
UNFINISHED = (InstanceState.PENDING, InstanceState.DEIDENTIFIED, InstanceState.SENT)


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release found and did."""

    project: str
    before: str
    after: str
    instances_checked: int
    sessions: int
    quarantined: int

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        action = f"set from {self.before} to {self.after}" if self.changed else f"already {self.after}"
        text = (
            f"XNAT project {self.project} {action}: {self.instances_checked} instances in "
            f"{self.sessions} sessions checked present"
        )
        if self.quarantined:
            text += f"; {self.quarantined} quarantined instances were not sent and are not part of it"
        return text


def completeness_problem(missing: int, unfinished: int) -> str | None:
    """Why a project cannot be released yet, or None (pure)."""
    if missing:
        return f"{missing} verified instances are missing from XNAT"
    if unfinished:
        return f"{unfinished} instances have not been sent and verified yet"
    return None


def release_xnat_project(
    state: StateDB, target: XnatTarget, *, accessibility: Accessibility = "protected"
) -> ReleaseOutcome:
    """Check the project is complete, then set its accessibility (``protected`` unless asked otherwise).

    Raises:
        Conflict: instances are missing from XNAT or not yet sent; nothing was changed.
        UploadError: XNAT refused (403: only project owners may change accessibility).
    """
    target.forget_listings()
    verified = state.instances([InstanceState.VERIFIED])
    by_series: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in verified:
        if row.out_study_uid and row.out_series_uid and row.out_sop_uid:
            by_series[(row.out_study_uid, row.out_series_uid)].add(row.out_sop_uid)
    missing = sum(
        len(uids - target.list_instances(study, series)) for (study, series), uids in by_series.items()
    )
    counts = state.counts_by_state()
    problem = completeness_problem(missing, sum(counts.get(s, 0) for s in UNFINISHED))
    if problem is not None:
        raise Conflict(
            f"XNAT project {target.project} is not complete: {problem}; its accessibility was not changed",
            hint="run `eucaim-ingest push` until it reports every instance verified, then release again",
        )
    path = f"data/projects/{quote(target.project, safe='')}/accessibility"
    current = target.session.request("GET", path, what=f"reading the accessibility of {target.project}")
    check_status(current, f"reading the accessibility of project {target.project}")
    before = current.text.strip()
    after = before
    if before != accessibility:
        response = target.session.request(
            "PUT", f"{path}/{accessibility}", what=f"setting project {target.project} {accessibility}"
        )
        if response.status_code == 403:
            raise UploadError(
                f"XNAT refused to make project {target.project} {accessibility} (403)",
                status_code=403,
                hint="only the project's owners may change its accessibility; ask an owner to make "
                "you one, or to release the project",
            )
        check_status(response, f"setting project {target.project} {accessibility}")
        after = accessibility
        logger.info("XNAT project %s accessibility %s -> %s", target.project, before, after)
    return ReleaseOutcome(
        project=target.project,
        before=before,
        after=after,
        instances_checked=len(verified),
        sessions=len({study for study, _ in by_series}),
        quarantined=counts.get(InstanceState.QUARANTINED, 0),
    )
