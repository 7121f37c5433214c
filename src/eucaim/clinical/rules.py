"""Cross-field rules of a schema (dates in order, age consistent with dates), checked on one row."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta

from eucaim.clinical.issues import Issue
from eucaim.clinical.schema import Rule
from eucaim.clinical.values import Value

DAYS_PER_YEAR = 365.2425

# (rule, typed values of the row, field -> source column, row number) -> issues
RuleCheck = Callable[[Rule, Mapping[str, Value], Mapping[str, str], int | None], Iterator[Issue]]


def _date(values: Mapping[str, Value], name: object) -> date | None:
    value = values.get(str(name)) if name is not None else None
    return value if isinstance(value, date) else None


def check_date_order(
    rule: Rule, values: Mapping[str, Value], columns: Mapping[str, str], row: int | None
) -> Iterator[Issue]:
    """``before`` must not be later than ``after`` (plus ``slack_days``)."""
    first_name, second_name = str(rule.params["before"]), str(rule.params["after"])
    first, second = _date(values, first_name), _date(values, second_name)
    slack = int(rule.params.get("slack_days", 0))
    if first is None or second is None or first <= second + timedelta(days=slack):
        return
    # A birth date is identifying: name the rule, never show its value.
    shown_first = "the birth date" if first_name == "birth_date" else f"{first_name} ({first.isoformat()})"
    yield Issue(
        rule.id,
        f"{second_name} ({second.isoformat()}) is before {shown_first}",
        rule.hint or f"{second_name} cannot be earlier than {first_name}; check both dates",
        row=row,
        column=columns.get(second_name, second_name),
        value=second.isoformat(),
    )


def check_age_matches_dates(
    rule: Rule, values: Mapping[str, Value], columns: Mapping[str, str], row: int | None
) -> Iterator[Issue]:
    """The stated age must match birth date and the first available event date within tolerance."""
    age_name = str(rule.params["age"])
    age = values.get(age_name)
    birth = _date(values, rule.params["birth"])
    events = [(str(n), _date(values, n)) for n in rule.params.get("at", ())]
    at_name, at = next(((n, d) for n, d in events if d is not None), ("", None))
    if not isinstance(age, int | float) or isinstance(age, bool) or birth is None or at is None:
        return
    actual = (at - birth).days / DAYS_PER_YEAR
    tolerance = float(rule.params.get("tolerance_years", 1.0))
    if abs(actual - float(age)) <= tolerance:
        return
    yield Issue(
        rule.id,
        f"{age_name} {age} does not match the birth date and {at_name} (which give {actual:.1f})",
        rule.hint or f"correct {age_name}, the birth date or {at_name}",
        row=row,
        column=columns.get(age_name, age_name),
        value=str(age),
    )


CHECKS: dict[str, RuleCheck] = {
    "date-order": check_date_order,
    "age-matches-dates": check_age_matches_dates,
}
