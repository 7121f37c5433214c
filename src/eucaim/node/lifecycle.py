"""The dataset lifecycle: states, who may do what in each, and what release requires (pure rules).

::

    creating ──(job done)──► draft ──release──► released ──publish──► published
                               ▲                   │
                               └─────reject────────┘
    draft / released / published ──invalidate──► invalidated ──reactivate──► (the state it left)

=============  ===============================================  ==================================
action         from                                             who
=============  ===============================================  ==================================
release        draft, metadata complete                         the author (a biobank manager), admin
publish        released                                         validator, admin
reject         released (with a reason) → draft                 validator, admin
invalidate     draft, released, published (with a reason)       the author, validator, admin
reactivate     invalidated → the state before                   validator, admin
aggregate      draft, released, published                       the author, validator, admin
restart        creating, its creation job failed                the author, admin
=============  ===============================================  ==================================

The author is the data holder who created the dataset and still manages its biobank. Nothing
here reads the database: the services pass the state and the caller's standing in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from eucaim.errors import Conflict, PermissionDenied
from eucaim.node.roles import Role


class DatasetState(StrEnum):
    """Where a dataset stands; stored as these values."""

    CREATING = "creating"
    DRAFT = "draft"
    RELEASED = "released"
    PUBLISHED = "published"
    INVALIDATED = "invalidated"


class Action(StrEnum):
    """What a caller may ask for; the names are also the API's path segments."""

    RELEASE = "release"
    PUBLISH = "publish"
    REJECT = "reject"
    INVALIDATE = "invalidate"
    REACTIVATE = "reactivate"
    AGGREGATE = "aggregate"


@dataclass(frozen=True)
class Actor:
    """The caller as the lifecycle sees them."""

    role: Role
    is_author: bool = False
    is_manager: bool = False  # manages the dataset's biobank


# Descriptive metadata, editable in draft by the author (and admin). Names are the API's.
DRAFT_PROPERTIES: tuple[str, ...] = (
    "name",
    "description",
    "version",
    "purpose",
    "type",
    "collectionMethod",
    "provenance",
    "keywords",
    "cancerCondition",
    "interoperabilityTier",
    "previousId",
)
# Rights and contact stay editable by the author while the dataset lives (as in EUCAIM's service).
ALWAYS_PROPERTIES: tuple[str, ...] = ("license", "contact")
ALL_PROPERTIES: tuple[str, ...] = DRAFT_PROPERTIES + ALWAYS_PROPERTIES

# What a release needs, besides a name; the EUCAIM DCAT-AP mandatory fields a holder can fill in.
REQUIRED_FOR_RELEASE: tuple[str, ...] = (
    "description",
    "version",
    "purpose",
    "type",
    "collectionMethod",
    "provenance",
    "license",
    "contact",
    "keywords",
    "cancerCondition",
    "interoperabilityTier",
)

DATASET_TYPES = ("original", "annotated", "processed", "personal-data")
COLLECTION_METHODS = (
    "patient-based",
    "cohort",
    "only-image",
    "longitudinal",
    "case-control",
    "disease-specific",
)

_LIVE = (DatasetState.DRAFT, DatasetState.RELEASED, DatasetState.PUBLISHED)
_STAFF = (Role.VALIDATOR, Role.ADMIN)


def _is_holder(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or (actor.is_author and actor.is_manager)


def may(action: Action, state: DatasetState, actor: Actor) -> bool:
    """Return True when ``actor`` may perform ``action`` on a dataset in ``state``."""
    if action is Action.RELEASE:
        return state is DatasetState.DRAFT and _is_holder(actor)
    if action in (Action.PUBLISH, Action.REJECT):
        return state is DatasetState.RELEASED and actor.role in _STAFF
    if action is Action.INVALIDATE:
        return state in _LIVE and (actor.role in _STAFF or _is_holder(actor))
    if action is Action.REACTIVATE:
        return state is DatasetState.INVALIDATED and actor.role in _STAFF
    if action is Action.AGGREGATE:
        return state in _LIVE and (actor.role in _STAFF or _is_holder(actor))
    raise AssertionError(f"unhandled action {action}")


def allowed_actions(state: DatasetState, actor: Actor) -> list[str]:
    """Return the actions ``actor`` may take now (the ``allowedActions`` of every GET)."""
    return [a.value for a in Action if may(a, state, actor)]


def may_restart_creation(state: DatasetState, job_status: str | None, actor: Actor) -> bool:
    """Return True when ``actor`` may restart the failed creation job of a dataset.

    Only a job that ended in error restarts (after the holder fixed its cause, such as uploading
    the subjects it missed); a running or finished job is never run twice.
    """
    return state is DatasetState.CREATING and job_status == "error" and _is_holder(actor)


def editable_properties(state: DatasetState, actor: Actor) -> list[str]:
    """Return the metadata properties ``actor`` may PATCH now (``editableProperties``)."""
    if not _is_holder(actor) or state in (DatasetState.CREATING, DatasetState.INVALIDATED):
        return []
    if state is DatasetState.DRAFT:
        return list(ALL_PROPERTIES)
    return list(ALWAYS_PROPERTIES)


def next_state(
    action: Action, state: DatasetState, actor: Actor, *, previous_state: DatasetState | None = None
) -> DatasetState:
    """Return the state ``action`` leads to, or raise why it is refused.

    Raises:
        PermissionDenied: the actor's role or standing does not allow the action at all.
        Conflict: the action is not possible in the dataset's current state.
    """
    if not may(action, state, actor):
        if any(may(action, s, actor) for s in DatasetState):
            raise Conflict(
                f"cannot {action.value} a dataset that is {state.value}",
                hint=f"allowed now: {', '.join(allowed_actions(state, actor)) or 'nothing'}",
            )
        raise PermissionDenied(
            f"a {actor.role.value}{' (author)' if actor.is_author else ''} may not {action.value} "
            "this dataset",
            hint="release is the data holder's (the biobank manager who created it); publish, "
            "reject and reactivate are the validator's",
        )
    if action is Action.RELEASE:
        return DatasetState.RELEASED
    if action is Action.PUBLISH:
        return DatasetState.PUBLISHED
    if action is Action.REJECT:
        return DatasetState.DRAFT
    if action is Action.INVALIDATE:
        return DatasetState.INVALIDATED
    if action is Action.REACTIVATE:
        # An invalidated dataset always knows where it came from; draft is the safe fallback.
        return previous_state if previous_state in _LIVE else DatasetState.DRAFT
    return state


def missing_for_release(properties: Mapping[str, object]) -> list[str]:
    """Return the required properties that are empty (a license needs both a title and a URL)."""
    missing: list[str] = []
    for name in REQUIRED_FOR_RELEASE:
        value = properties.get(name)
        if name == "license":
            if not isinstance(value, Mapping) or not value.get("title") or not value.get("url"):
                missing.append(name)
        elif value is None or value == "" or value == [] or value == {}:
            missing.append(name)
    return missing
