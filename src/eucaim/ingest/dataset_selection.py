"""What goes into a dataset: the node's selection body, its command-line form, and what can be chosen.

``eucaim-ingest dataset create`` and the web UI's dataset step build the same ``selection``
(``{"kind": "biobank"}`` or ``{"kind": "subjects"|"studies"|"series", "ids": [...]}``) here. The
choices offered are what this workspace sent and the node verified, named the way the node knows
them (pseudonyms and de-identified UIDs, never the hospital's identifiers). Pure: rows in, values out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eucaim.errors import ConfigError
from eucaim.ingest.state.db import InstanceRow
from eucaim.ingest.state.states import InstanceState

KINDS = ("subjects", "studies", "series")


def selection(subjects: Sequence[str], studies: Sequence[str], series: Sequence[str]) -> dict[str, Any]:
    """The selection body for the node; each list may hold comma-separated ids.

    Raises:
        ConfigError: more than one kind was given.
    """
    given = [(kind, ids) for kind, ids in zip(KINDS, (subjects, studies, series), strict=True) if ids]
    if len(given) > 1:
        raise ConfigError("choose one of --subjects, --studies and --series (or none for the whole biobank)")
    if not given:
        return {"kind": "biobank"}
    kind, ids = given[0]
    return {"kind": kind, "ids": [i for value in ids for i in value.split(",") if i]}


def selection_options(chosen: dict[str, Any]) -> list[str]:
    """The ``dataset create`` options that give ``chosen`` (none for the whole biobank)."""
    if chosen.get("kind") in KINDS:
        return [f"--{chosen['kind']}", ",".join(chosen.get("ids") or [])]
    return []


@dataclass(frozen=True)
class Choice:
    """One item that can go into a dataset: the id the node knows it by and a readable label."""

    id: str
    label: str


@dataclass(frozen=True)
class Choices:
    """The subjects, studies and series of this workspace that are verified on the node."""

    subjects: list[Choice]
    studies: list[Choice]
    series: list[Choice]

    def of(self, kind: str) -> list[Choice]:
        return {"subjects": self.subjects, "studies": self.studies, "series": self.series}[kind]


def verified_choices(rows: Iterable[InstanceRow]) -> Choices:
    """Group verified instance rows into what a dataset can be made of, by their de-identified ids."""
    subjects: set[str] = set()
    studies: dict[str, set[str]] = defaultdict(set)
    study_subject: dict[str, str] = {}
    series: dict[str, int] = defaultdict(int)
    series_info: dict[str, tuple[str, str]] = {}
    for row in rows:
        if row.state is not InstanceState.VERIFIED or not (row.pseudonym and row.out_study_uid):
            continue
        subjects.add(row.pseudonym)
        study_subject[row.out_study_uid] = row.pseudonym
        if row.out_series_uid:
            studies[row.out_study_uid].add(row.out_series_uid)
            series[row.out_series_uid] += 1
            series_info[row.out_series_uid] = (row.pseudonym, row.modality)
    return Choices(
        subjects=[Choice(s, s) for s in sorted(subjects)],
        studies=[
            Choice(uid, f"{study_subject[uid]} · {uid} ({len(studies[uid])} series)")
            for uid in sorted(study_subject, key=lambda u: (study_subject[u], u))
        ],
        series=[
            Choice(uid, f"{series_info[uid][0]} · {series_info[uid][1] or '?'} · {uid} ({n} instances)")
            for uid, n in sorted(series.items(), key=lambda item: (series_info[item[0]], item[0]))
        ],
    )
