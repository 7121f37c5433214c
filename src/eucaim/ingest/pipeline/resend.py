"""Re-sending what the node verified: the scope the user names, and reopening its rows for the push.

`push --resend` (a node operator asks "please re-send study X": the node lost an object, and a
re-send repairs it) moves the chosen ``verified`` rows back to ``deidentified`` in one transaction;
`push --reverify` first asks the node (one QIDO per series) and reopens only what it no longer
lists. The push then sends and verifies them as any other. A reopened row whose outbox copy is
gone (or differs from the one verified) goes through de-identification again, which must give the
same bytes: the runner passes the verified digests on, and a copy that differs is quarantined.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eucaim.errors import ConfigError
from eucaim.ingest.pipeline.events import Advanced, EventHandler, Notice, Stage, StageFinished, StageStarted
from eucaim.ingest.state.db import InstanceRow, StateDB
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.base import Target

logger = logging.getLogger(__name__)

SCOPE_HELP = (
    "--patient ID (pseudonym or original PatientID), --study UID or --series UID (original or "
    "de-identified; repeatable or comma-separated), or --all for every verified instance"
)


def _split(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.strip() for value in values for i in value.split(",") if i.strip()))


@dataclass(frozen=True)
class ResendScope:
    """Which verified instances to send again: any of these patients, studies or series, or all."""

    patients: tuple[str, ...] = ()
    studies: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    everything: bool = False

    @classmethod
    def parse(
        cls,
        *,
        patients: Sequence[str] = (),
        studies: Sequence[str] = (),
        series: Sequence[str] = (),
        everything: bool = False,
        option: str = "--resend",
    ) -> ResendScope:
        """Build a scope from command-line values (each may hold comma-separated ids).

        Raises:
            ConfigError: no scope was given (re-sending everything must be asked for with
                ``--all``), or ``--all`` was given together with ids.
        """
        scope = cls(_split(patients), _split(studies), _split(series), everything)
        named = scope.patients or scope.studies or scope.series
        if everything and named:
            raise ConfigError(
                f"{option} --all takes every verified instance; give no --patient/--study/--series"
            )
        if not everything and not named:
            raise ConfigError(f"{option} needs a scope: {SCOPE_HELP}")
        return scope

    def unmatched(self, rows: Sequence[InstanceRow]) -> list[str]:
        """The ids of this scope that none of ``rows`` (the verified rows it selected) matches."""
        seen: dict[str, set[str]] = {"patient": set(), "study": set(), "series": set()}
        for r in rows:
            seen["patient"].update(v for v in (r.patient_id, r.pseudonym) if v)
            seen["study"].update(v for v in (r.study_uid, r.out_study_uid) if v)
            seen["series"].update(v for v in (r.series_uid, r.out_series_uid) if v)
        return [
            f"--{kind} {value}"
            for kind, values in (("patient", self.patients), ("study", self.studies), ("series", self.series))
            for value in values
            if value not in seen[kind]
        ]


def select_verified(state: StateDB, scope: ResendScope, *, option: str = "--resend") -> list[InstanceRow]:
    """The verified rows of ``scope``.

    Raises:
        ConfigError: nothing verified matches (a typo, or an instance never sent), so the user is
            not left guessing why nothing happened.
    """
    rows = state.verified_in_scope(
        patients=scope.patients, studies=scope.studies, series=scope.series, everything=scope.everything
    )
    if not rows:
        what = (
            "this workspace has none"
            if scope.everything
            else "nothing matches " + ", ".join(scope.unmatched([]))
        )
        raise ConfigError(
            f"{option}: no verified instance to take ({what})",
            hint="`eucaim-ingest status --by study --reveal` lists what this workspace sent",
        )
    return rows


@dataclass
class Reopened:
    """What reopening did: rows back to ``deidentified`` and those that must be de-identified again."""

    selected: int = 0
    missing_on_node: int = 0
    ids: list[int] = field(default_factory=list)
    expected_sha256: dict[int, str] = field(default_factory=dict)  # rows sent again through de-id


def missing_on_node(
    target: Target, rows: Sequence[InstanceRow], *, on_event: EventHandler, concurrency: int
) -> list[InstanceRow]:
    """The rows whose series listing on the node (one QIDO per series) lacks their SOPInstanceUID."""
    by_series: dict[tuple[str, str], list[InstanceRow]] = defaultdict(list)
    for row in rows:
        if row.out_study_uid and row.out_series_uid:
            by_series[(row.out_study_uid, row.out_series_uid)].append(row)
    on_event(StageStarted(Stage.RECONCILE, len(rows), sum(r.out_size or 0 for r in rows)))
    missing: list[InstanceRow] = []
    with ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(by_series))), thread_name_prefix="qido"
    ) as pool:
        answers = pool.map(lambda key: target.list_instances(*key), list(by_series))
        for members, present in zip(by_series.values(), answers, strict=True):
            missing.extend(r for r in members if r.out_sop_uid not in present)
            on_event(Advanced(Stage.RECONCILE, len(members), sum(r.out_size or 0 for r in members)))
    on_event(StageFinished(Stage.RECONCILE))
    return missing


def reopen(state: StateDB, rows: Sequence[InstanceRow], *, on_event: EventHandler) -> Reopened:
    """Move ``rows`` (verified) back to ``deidentified``; those without a sound outbox copy to ``pending``.

    A copy is sound when it is there and its sha256 is the one recorded at verification. The others
    are made again from the source by the push (the digest they must have is in the result).
    """
    result = Reopened(selected=len(rows), ids=[r.id for r in rows])
    state.reopen_verified(result.ids)
    again = [r for r in rows if not _outbox_is_sound(r)]
    for r in again:
        if r.out_path:
            Path(r.out_path).unlink(missing_ok=True)
        if r.out_sha256:
            result.expected_sha256[r.id] = r.out_sha256
    state.mark_many([r.id for r in again], InstanceState.PENDING)
    logger.info(
        "%d verified instances reopened to be sent again, %d de-identified again", len(rows), len(again)
    )
    on_event(Notice(f"{len(rows)} verified instances will be sent again ({len(again)} de-identified again)"))
    return result


def _outbox_is_sound(row: InstanceRow) -> bool:
    if not row.out_path or not row.out_sha256:
        return False
    digest = hashlib.sha256()
    try:
        with open(row.out_path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == row.out_sha256
