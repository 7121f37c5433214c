"""Datasets: create them, show them to whom may see them, edit metadata, and move them through the lifecycle.

The rules live in :mod:`eucaim.node.lifecycle`; this module loads the dataset and the caller,
asks those rules, and writes the outcome with the audit entry in the same transaction. A state
change is an ``UPDATE ... WHERE row_version = ?``: of two concurrent changes one wins, the other
gets a Conflict.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eucaim.errors import Conflict, NotFound, PermissionDenied
from eucaim.node.errors import InvalidRequest
from eucaim.node.lifecycle import (
    Action,
    Actor,
    DatasetState,
    allowed_actions,
    editable_properties,
    may_restart_creation,
    missing_for_release,
    next_state,
)
from eucaim.node.models import Biobank, User
from eucaim.node.models_datasets import Dataset, DatasetJob
from eucaim.node.roles import Role
from eucaim.node.services import audit
from eucaim.node.services.biobanks import authorize, get_biobank
from eucaim.node.services.dataset_properties import check_property

logger = logging.getLogger(__name__)

SELECTION_KINDS = ("biobank", "subjects", "studies", "series")
# States in which a dataset occupies its previous version's one "next draft" slot.
_DRAFT_SLOT = (DatasetState.CREATING, DatasetState.DRAFT)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user #{user_id} does not exist")
    return user


def get_dataset(session: Session, *, dataset_id: str) -> Dataset:
    """Return the dataset ``dataset_id``.

    Raises:
        NotFound: no such dataset.
    """
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id!r} does not exist on this node")
    return dataset


def actor_for(session: Session, dataset: Dataset, user: User) -> Actor:
    """Return the caller as the lifecycle sees them for this dataset."""
    biobank = session.get(Biobank, dataset.biobank_id)
    is_manager = biobank is not None and any(m.id == user.id for m in biobank.managers)
    return Actor(role=user.role, is_author=dataset.author_id == user.id, is_manager=is_manager)


def can_view(actor: Actor) -> bool:
    """Return True when the actor may see a dataset's full record (managers, validators, admins)."""
    return actor.role in (Role.VALIDATOR, Role.ADMIN) or actor.is_manager


def visible_dataset(session: Session, dataset_id: str, user_id: int) -> tuple[Dataset, User, Actor]:
    """Return the dataset, the caller and their standing, if the caller may see the dataset.

    Raises:
        NotFound: no such dataset.
        PermissionDenied: the caller is not a manager of its biobank, a validator or an admin.
    """
    dataset = get_dataset(session, dataset_id=dataset_id)
    user = _user(session, user_id)
    actor = actor_for(session, dataset, user)
    if not can_view(actor):
        raise PermissionDenied(
            f"user {user.name!r} may not see dataset {dataset_id}",
            hint="datasets are visible to their biobank's managers, validators and admins; "
            "published ones also in the public catalogue",
        )
    return dataset, user, actor


def create_dataset(
    session: Session,
    *,
    user_id: int,
    biobank_code: str,
    name: str,
    description: str,
    selection: dict[str, Any],
    properties: dict[str, Any],
    now: datetime,
) -> Dataset:
    """Create a dataset in state ``creating`` with a pending creation job (the caller submits it).

    Raises:
        PermissionDenied: the caller may not write into the biobank.
        InvalidRequest: a bad selection or property value.
        Conflict: ``previousId`` already has a draft pointing at it.
    """
    user = _user(session, user_id)
    biobank = get_biobank(session, code=biobank_code)
    authorize(biobank, user, write=True)
    kind = selection.get("kind")
    if kind not in SELECTION_KINDS:
        raise InvalidRequest(
            f"selection.kind must be one of {', '.join(SELECTION_KINDS)}", parameter="selection"
        )
    ids = selection.get("ids") or []
    if kind != "biobank" and (
        not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids)
    ):
        raise InvalidRequest(f"selection.ids must list the {kind} to include", parameter="selection")
    props = {k: check_property(k, v) for k, v in properties.items() if k not in ("name",)}
    props["description"] = check_property("description", description)
    previous_id = props.pop("previousId", None)
    dataset = Dataset(
        id=str(uuid.uuid4()),
        biobank_id=biobank.id,
        author_id=user.id,
        name=check_property("name", name),
        state=DatasetState.CREATING.value,
        properties=props,
        selection={"kind": kind, "ids": list(dict.fromkeys(ids)) if kind != "biobank" else []},
        created_at=now,
        updated_at=now,
    )
    if previous_id is not None:
        _check_previous(session, previous_id, user, biobank.id)
        dataset.previous_id = previous_id
        dataset.draft_of = previous_id
    session.add(dataset)
    session.add(
        DatasetJob(dataset_id=dataset.id, status="pending", progress=0.0, message="queued", created_at=now)
    )
    _flush_or_conflict(session, previous_id)
    audit.append(
        session,
        actor=user.name,
        action="create",
        dataset_id=dataset.id,
        details={"biobank": biobank.code, "selection": kind, "previousId": previous_id},
        now=now,
    )
    logger.info("dataset %s created in biobank %s (%s selection)", dataset.id, biobank.code, kind)
    return dataset


def _check_previous(session: Session, previous_id: str, user: User, biobank_id: int) -> None:
    previous = session.get(Dataset, previous_id)
    if previous is None:
        raise InvalidRequest(f"previousId: dataset {previous_id!r} does not exist", parameter="previousId")
    if previous.state in (DatasetState.CREATING, DatasetState.DRAFT):
        raise Conflict(f"previousId: dataset {previous_id} is itself a draft", hint="release it first")
    if previous.author_id != user.id and user.role is not Role.ADMIN:
        raise PermissionDenied(f"previousId: only the author of {previous_id} may make a new version of it")
    if previous.biobank_id != biobank_id:
        raise InvalidRequest("previousId: a new version stays in its previous version's biobank")


def _flush_or_conflict(session: Session, previous_id: str | None) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"another draft already points at previous version {previous_id}",
            hint="release or invalidate that draft first",
        ) from exc


def dataset_view(session: Session, dataset: Dataset, actor: Actor) -> dict[str, Any]:
    """Return the full record of a dataset for a caller allowed to see it."""
    state = DatasetState(dataset.state)
    biobank = session.get(Biobank, dataset.biobank_id)
    author = session.get(User, dataset.author_id)
    job = session.get(DatasetJob, dataset.id)
    return {
        "id": dataset.id,
        "name": dataset.name,
        "state": state.value,
        "biobank": biobank.code if biobank else None,
        "author": author.name if author else None,
        **{k: v for k, v in dataset.properties.items()},
        "previousId": dataset.previous_id,
        "nextIds": list(session.scalars(select(Dataset.id).where(Dataset.previous_id == dataset.id))),
        "selection": dataset.selection,
        "rejectionReason": dataset.rejection_reason,
        "invalidationReason": dataset.invalidation_reason,
        "createdAt": dataset.created_at.isoformat(),
        "updatedAt": dataset.updated_at.isoformat(),
        "releasedAt": dataset.released_at.isoformat() if dataset.released_at else None,
        "publishedAt": dataset.published_at.isoformat() if dataset.published_at else None,
        "aggregates": dataset.aggregates,
        "aggregatedAt": dataset.aggregated_at.isoformat() if dataset.aggregated_at else None,
        "missingForRelease": missing_for_release(dataset.properties),
        "job": job_view(job) if job else None,
        "editableProperties": editable_properties(state, actor),
        "allowedActions": allowed_actions(state, actor)
        + (["restart"] if may_restart_creation(state, job.status if job else None, actor) else []),
    }


def job_view(job: DatasetJob) -> dict[str, Any]:
    """Return a creation job's status as the API shows it."""
    return {
        "status": job.status,
        "progress": round(job.progress, 3),
        "message": job.message,
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }


def show_dataset(session: Session, *, dataset_id: str, user_id: int) -> dict[str, Any]:
    """Return the dataset with the caller's ``editableProperties`` and ``allowedActions``."""
    dataset, _user_row, actor = visible_dataset(session, dataset_id, user_id)
    return dataset_view(session, dataset, actor)


def show_job(session: Session, *, dataset_id: str, user_id: int) -> dict[str, Any]:
    """Return the creation job of a dataset the caller may see."""
    visible_dataset(session, dataset_id, user_id)
    job = session.get(DatasetJob, dataset_id)
    if job is None:
        raise NotFound(f"dataset {dataset_id} has no creation job")
    return job_view(job)


def list_datasets(session: Session, *, user_id: int) -> list[dict[str, Any]]:
    """Return the datasets the caller may see, newest first."""
    user = _user(session, user_id)
    out = []
    for dataset in session.scalars(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id)):
        actor = actor_for(session, dataset, user)
        if can_view(actor):
            out.append(dataset_view(session, dataset, actor))
    return out


def _bump(session: Session, dataset: Dataset, values: dict[str, Any], now: datetime) -> None:
    """Write ``values`` only if nobody changed the dataset since it was read.

    Raises:
        Conflict: a concurrent change won, or ``draft_of`` would give a previous version two drafts.
    """
    try:
        result = session.execute(
            update(Dataset)
            .where(Dataset.id == dataset.id, Dataset.row_version == dataset.row_version)
            .values(**values, row_version=dataset.row_version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    except IntegrityError as exc:
        raise Conflict(
            f"another draft already points at previous version {values.get('draft_of')}",
            hint="release or invalidate that draft first",
        ) from exc
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"dataset {dataset.id} was changed by someone else at the same time",
            hint="reload it and try again",
        )
    session.expire(dataset)


def update_properties(
    session: Session, *, dataset_id: str, user_id: int, changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Change metadata properties the caller may edit now; return the updated record.

    Raises:
        InvalidRequest: an unknown property or a bad value.
        PermissionDenied: a property this caller may never edit.
        Conflict: a property the caller may edit only in another state.
    """
    dataset, user, actor = visible_dataset(session, dataset_id, user_id)
    state = DatasetState(dataset.state)
    editable = set(editable_properties(state, actor))
    if not changes:
        raise InvalidRequest("nothing to change: send {property: value, ...}")
    checked = {name: check_property(name, value) for name, value in changes.items()}
    refused = sorted(set(checked) - editable)
    if refused:
        if any(set(refused) <= set(editable_properties(s, actor)) for s in DatasetState):
            raise Conflict(
                f"{', '.join(refused)} cannot be changed while the dataset is {state.value}",
                hint=f"editable now: {', '.join(sorted(editable)) or 'nothing'}",
            )
        raise PermissionDenied(
            f"user {user.name!r} may not change {', '.join(refused)} of dataset {dataset_id}",
            hint="metadata is edited by the data holder who created the dataset",
        )
    values: dict[str, Any] = {}
    props = dict(dataset.properties)
    for name, value in checked.items():
        if name == "name":
            values["name"] = value
        elif name == "previousId":
            if value is not None:
                _check_previous(session, value, user, dataset.biobank_id)
            values["previous_id"] = value
            values["draft_of"] = value
        else:
            props[name] = value
    values["properties"] = props
    _bump(session, dataset, values, now)
    audit.append(
        session,
        actor=user.name,
        action="update",
        dataset_id=dataset_id,
        details={"changed": sorted(checked)},
        now=now,
    )
    return dataset_view(session, dataset, actor)


def apply_action(
    session: Session,
    *,
    dataset_id: str,
    user_id: int,
    action: Action,
    now: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    """Perform a lifecycle action (release, publish, reject, invalidate, reactivate); return the record.

    Raises:
        PermissionDenied: the caller may never do this to the dataset.
        Conflict: not possible in the current state, required metadata missing (listed), or a
            concurrent change won.
        InvalidRequest: reject and invalidate need a reason.
    """
    dataset, user, actor = visible_dataset(session, dataset_id, user_id)
    state = DatasetState(dataset.state)
    previous = DatasetState(dataset.state_before_invalidation) if dataset.state_before_invalidation else None
    target = next_state(action, state, actor, previous_state=previous)
    reason = (reason or "").strip()
    if action in (Action.REJECT, Action.INVALIDATE) and not reason:
        raise InvalidRequest(f"{action.value} needs a reason", parameter="reason")
    if len(reason) > 512:
        raise InvalidRequest("the reason is longer than 512 characters", parameter="reason")
    if action is Action.RELEASE:
        missing = missing_for_release(dataset.properties)
        if missing:
            raise Conflict(
                f"dataset {dataset_id} cannot be released: required metadata missing: {', '.join(missing)}",
                hint="set them with PATCH /datasets/{id} (eucaim-ingest dataset set ID key=value)",
            )
    values: dict[str, Any] = {"state": target.value}
    if action is Action.RELEASE:
        values.update(released_at=now, draft_of=None, rejection_reason=None)
    elif action is Action.PUBLISH:
        values["published_at"] = now
    elif action is Action.REJECT:
        values.update(rejection_reason=reason, draft_of=dataset.previous_id)
    elif action is Action.INVALIDATE:
        values.update(invalidation_reason=reason, state_before_invalidation=state.value, draft_of=None)
    elif action is Action.REACTIVATE:
        values.update(invalidation_reason=None, state_before_invalidation=None)
        values["draft_of"] = dataset.previous_id if target in _DRAFT_SLOT else None
    _bump(session, dataset, values, now)
    details: dict[str, Any] = {"from": state.value, "to": target.value}
    if reason:
        details["reason"] = reason
    audit.append(
        session, actor=user.name, action=action.value, dataset_id=dataset_id, details=details, now=now
    )
    logger.info("dataset %s: %s by %s (%s → %s)", dataset_id, action.value, user.name, state, target)
    return dataset_view(session, dataset, actor)
