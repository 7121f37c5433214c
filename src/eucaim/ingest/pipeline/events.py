"""Typed progress events the pipeline emits; the CLI progress bar and the web UI subscribe to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    RECONCILE = "reconcile"
    DEIDENTIFY = "deidentify"
    SEND = "send"
    VERIFY = "verify"


@dataclass(frozen=True)
class StageStarted:
    stage: Stage
    total_items: int
    total_bytes: int


@dataclass(frozen=True)
class Advanced:
    stage: Stage
    items: int
    bytes: int


@dataclass(frozen=True)
class StageFinished:
    stage: Stage


@dataclass(frozen=True)
class Notice:
    """Something the user should read (a retry, a quarantined file); never contains PHI."""

    text: str


Event = StageStarted | Advanced | StageFinished | Notice
EventHandler = Callable[[Event], None]


def ignore(_: Event) -> None:
    """The default handler: nobody is watching."""
