"""The dataset state machine: every action from every state for every kind of caller."""

from __future__ import annotations

import pytest

from eucaim.errors import Conflict, PermissionDenied
from eucaim.node.lifecycle import (
    ALWAYS_PROPERTIES,
    REQUIRED_FOR_RELEASE,
    Action,
    Actor,
    DatasetState,
    allowed_actions,
    editable_properties,
    may_restart_creation,
    missing_for_release,
    next_state,
)
from eucaim.node.roles import Role

S = DatasetState
AUTHOR = Actor(Role.DATA_INGESTER, is_author=True, is_manager=True)
CO_MANAGER = Actor(Role.DATA_INGESTER, is_author=False, is_manager=True)
FORMER_AUTHOR = Actor(Role.DATA_INGESTER, is_author=True, is_manager=False)
OUTSIDER = Actor(Role.DATA_INGESTER)
VALIDATOR = Actor(Role.VALIDATOR)
ADMIN = Actor(Role.ADMIN)

# (state, actor) → allowed actions, as the module docstring's table says.
EXPECTED = {
    (S.CREATING, AUTHOR): [], (S.CREATING, VALIDATOR): [], (S.CREATING, ADMIN): [],
    (S.DRAFT, AUTHOR): ["release", "invalidate", "aggregate"],
    (S.DRAFT, CO_MANAGER): [], (S.DRAFT, FORMER_AUTHOR): [], (S.DRAFT, OUTSIDER): [],
    (S.DRAFT, VALIDATOR): ["invalidate", "aggregate"],
    (S.DRAFT, ADMIN): ["release", "invalidate", "aggregate"],
    (S.RELEASED, AUTHOR): ["invalidate", "aggregate"],
    (S.RELEASED, VALIDATOR): ["publish", "reject", "invalidate", "aggregate"],
    (S.RELEASED, ADMIN): ["publish", "reject", "invalidate", "aggregate"],
    (S.PUBLISHED, AUTHOR): ["invalidate", "aggregate"],
    (S.PUBLISHED, VALIDATOR): ["invalidate", "aggregate"],
    (S.PUBLISHED, OUTSIDER): [],
    (S.INVALIDATED, AUTHOR): [],
    (S.INVALIDATED, VALIDATOR): ["reactivate"],
    (S.INVALIDATED, ADMIN): ["reactivate"],
}  # fmt: skip


@pytest.mark.parametrize(("state", "actor"), list(EXPECTED))
def test_allowed_actions(state: DatasetState, actor: Actor) -> None:
    assert allowed_actions(state, actor) == EXPECTED[(state, actor)]


@pytest.mark.parametrize(("state", "actor"), list(EXPECTED))
def test_every_other_action_is_refused_with_the_right_error(state: DatasetState, actor: Actor) -> None:
    for action in Action:
        if action.value in EXPECTED[(state, actor)]:
            continue
        with pytest.raises((Conflict, PermissionDenied)) as refused:
            next_state(action, state, actor)
        # Conflict means "not now"; PermissionDenied "never for you".
        never = not any(action.value in allowed_actions(s, actor) for s in DatasetState)
        assert isinstance(refused.value, PermissionDenied) == never, (action, state, actor)


def test_transitions_lead_where_the_diagram_says() -> None:
    assert next_state(Action.RELEASE, S.DRAFT, AUTHOR) is S.RELEASED
    assert next_state(Action.PUBLISH, S.RELEASED, VALIDATOR) is S.PUBLISHED
    assert next_state(Action.REJECT, S.RELEASED, VALIDATOR) is S.DRAFT
    assert next_state(Action.INVALIDATE, S.PUBLISHED, AUTHOR) is S.INVALIDATED
    for before in (S.DRAFT, S.RELEASED, S.PUBLISHED):
        assert next_state(Action.REACTIVATE, S.INVALIDATED, ADMIN, previous_state=before) is before
    assert next_state(Action.REACTIVATE, S.INVALIDATED, ADMIN, previous_state=None) is S.DRAFT


def test_refusals_say_what_is_allowed() -> None:
    with pytest.raises(Conflict, match="cannot publish a dataset that is draft") as refused:
        next_state(Action.PUBLISH, S.DRAFT, VALIDATOR)
    assert "invalidate" in refused.value.hint
    with pytest.raises(PermissionDenied, match="data-ingester \\(author\\) may not publish"):
        next_state(Action.PUBLISH, S.RELEASED, AUTHOR)


def test_editable_properties_per_state_and_caller() -> None:
    assert "description" in editable_properties(S.DRAFT, AUTHOR)
    assert editable_properties(S.RELEASED, AUTHOR) == list(ALWAYS_PROPERTIES)
    assert editable_properties(S.PUBLISHED, ADMIN) == list(ALWAYS_PROPERTIES)
    for state in DatasetState:
        assert editable_properties(state, VALIDATOR) == []
        assert editable_properties(state, OUTSIDER) == []
    assert editable_properties(S.CREATING, AUTHOR) == editable_properties(S.INVALIDATED, AUTHOR) == []


def test_release_needs_every_required_property() -> None:
    assert missing_for_release({}) == list(REQUIRED_FOR_RELEASE)
    props = {name: "x" for name in REQUIRED_FOR_RELEASE}
    props.update(keywords=["lung"], license={"title": "CC BY 4.0", "url": "https://x.example"})
    assert missing_for_release(props) == []
    assert missing_for_release({**props, "license": {"title": "CC BY"}}) == ["license"]
    assert missing_for_release({**props, "keywords": [], "version": ""}) == ["version", "keywords"]


def test_only_the_holder_restarts_a_failed_creation() -> None:
    assert may_restart_creation(S.CREATING, "error", AUTHOR)
    assert may_restart_creation(S.CREATING, "error", ADMIN)
    for actor in (CO_MANAGER, FORMER_AUTHOR, OUTSIDER, VALIDATOR):
        assert not may_restart_creation(S.CREATING, "error", actor)
    for status in ("pending", "running", "finished", None):
        assert not may_restart_creation(S.CREATING, status, AUTHOR)
    assert not may_restart_creation(S.DRAFT, "error", AUTHOR)
