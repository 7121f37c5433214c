"""QIDO-RS searches over the index: parsed queries in, rows of attribute values out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, select
from sqlalchemy.orm import Session

from eucaim.node.dicomweb.attributes import Attribute, Level, stored_attributes
from eucaim.node.dicomweb.qido import Match, QidoQuery, like_pattern
from eucaim.node.errors import InvalidRequest
from eucaim.node.models import Base, Instance, Series, Study

_MODELS: dict[Level, type[Base]] = {Level.STUDY: Study, Level.SERIES: Series, Level.INSTANCE: Instance}

Row = dict[str, Any]


@dataclass(frozen=True)
class SearchResult:
    """One page of matches; ``more`` is True when later pages hold further matches."""

    rows: list[Row]
    more: bool


def search(
    session: Session,
    *,
    biobank_id: int,
    query: QidoQuery,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> SearchResult:
    """Return the matching studies, series or instances of a biobank as keyword → value rows.

    ``study_uid``/``series_uid`` come from the URL path (``/studies/{uid}/series``) and narrow the
    search like a match would.

    Raises:
        InvalidRequest: matching on a value the node computes (counts).
    """
    stmt: Select[Any]  # one, two or three entities depending on the level
    if query.level is Level.STUDY:
        stmt = select(Study).where(Study.biobank_id == biobank_id)
    elif query.level is Level.SERIES:
        stmt = select(Series, Study).join(Study, Series.study_id == Study.id)  # type: ignore[assignment]
        stmt = stmt.where(Study.biobank_id == biobank_id)
    else:
        stmt = select(Instance, Series, Study).join(  # type: ignore[assignment]
            Series, Instance.series_id == Series.id
        )
        stmt = stmt.join(Study, Series.study_id == Study.id).where(Instance.biobank_id == biobank_id)
    if study_uid is not None:
        stmt = stmt.where(Study.study_instance_uid == study_uid)
    if series_uid is not None:
        stmt = stmt.where(Series.series_instance_uid == series_uid)
    for match in query.matches:
        stmt = stmt.where(_condition(match))
    model = _MODELS[query.level]
    # One row more than asked tells whether another page exists.
    stmt = stmt.order_by(model.id).offset(query.offset).limit(query.limit + 1)  # type: ignore[attr-defined]
    rows = [tuple(r) for r in session.execute(stmt).all()]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    results = [_values(row) for row in rows]
    if query.level is Level.STUDY:
        _add_study_counts(session, [r[0] for r in rows], results)
    elif query.level is Level.SERIES:
        _add_series_counts(session, [r[0] for r in rows], results)
    return SearchResult(rows=results, more=more)


def _condition(match: Match) -> ColumnElement[bool]:
    attribute = match.attribute
    if attribute.keyword == "ModalitiesInStudy":
        inner = Match(attribute=_column_attribute("Modality"), values=match.values, pattern=match.pattern)
        return exists(select(Series.id).where(Series.study_id == Study.id, _condition(inner)))
    if attribute.column is None:
        raise InvalidRequest(f"matching on {attribute.keyword} is not supported", parameter=attribute.keyword)
    column = getattr(_MODELS[attribute.level], attribute.column)
    if match.date_range is not None:
        low, high = match.date_range
        bounds = [
            c for c in (column >= low if low else None, column <= high if high else None) if c is not None
        ]
        return and_(*bounds)
    if match.pattern is not None:
        if attribute.vr == "PN":
            return func.lower(column).like(func.lower(like_pattern(match.pattern)), escape="\\")  # type: ignore[no-any-return]
        return column.like(like_pattern(match.pattern), escape="\\")  # type: ignore[no-any-return]
    values: list[Any] = [int(v) for v in match.values] if attribute.vr in ("IS", "US") else list(match.values)
    return column == values[0] if len(values) == 1 else column.in_(values)  # type: ignore[no-any-return]


def _column_attribute(keyword: str) -> Attribute:
    return next(a for level in Level for a in stored_attributes(level) if a.keyword == keyword)


def _values(row: tuple[Any, ...]) -> Row:
    values: Row = {}
    for obj in row:
        level = next(level for level, model in _MODELS.items() if isinstance(obj, model))
        for attribute in stored_attributes(level):
            values[attribute.keyword] = getattr(obj, str(attribute.column))
    return values


def _add_study_counts(session: Session, studies: list[Any], results: list[Row]) -> None:
    ids = [s.id for s in studies]
    if not ids:
        return
    series_count = dict(
        session.execute(
            select(Series.study_id, func.count(Series.id))
            .where(Series.study_id.in_(ids))
            .group_by(Series.study_id)
        ).all()
    )
    instance_count = dict(
        session.execute(
            select(Series.study_id, func.count(Instance.id))
            .join(Instance, Instance.series_id == Series.id)
            .where(Series.study_id.in_(ids))
            .group_by(Series.study_id)
        ).all()
    )
    modalities: dict[int, set[str]] = defaultdict(set)
    for study_id, modality in session.execute(
        select(Series.study_id, Series.modality).where(Series.study_id.in_(ids)).distinct()
    ).all():
        if modality:
            modalities[study_id].add(modality)
    for study, values in zip(studies, results, strict=True):
        values["NumberOfStudyRelatedSeries"] = series_count.get(study.id, 0)
        values["NumberOfStudyRelatedInstances"] = instance_count.get(study.id, 0)
        values["ModalitiesInStudy"] = sorted(modalities.get(study.id, set()))


def _add_series_counts(session: Session, series: list[Any], results: list[Row]) -> None:
    ids = [s.id for s in series]
    if not ids:
        return
    counts = dict(
        session.execute(
            select(Instance.series_id, func.count(Instance.id))
            .where(Instance.series_id.in_(ids))
            .group_by(Instance.series_id)
        ).all()
    )
    for one, values in zip(series, results, strict=True):
        values["NumberOfSeriesRelatedInstances"] = counts.get(one.id, 0)
