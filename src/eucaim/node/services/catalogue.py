"""The public catalogue: published datasets as anonymous callers see them (aggregates only, suppressed).

The public view is built from a whitelist of descriptive properties and the suppressed
aggregates; nothing else about a dataset (its selection, author, series, job) ever reaches it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eucaim.catalogue.disclosure import public_aggregates
from eucaim.catalogue.search import collection, matches
from eucaim.errors import NotFound
from eucaim.node.lifecycle import DatasetState
from eucaim.node.models import Biobank
from eucaim.node.models_datasets import Dataset

PUBLIC_PROPERTIES = (
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


def public_view(session: Session, dataset: Dataset, *, threshold: int) -> dict[str, Any]:
    """Return what the catalogue shows of a published dataset."""
    biobank = session.get(Biobank, dataset.biobank_id)
    view: dict[str, Any] = {"id": dataset.id, "name": dataset.name}
    view.update({k: dataset.properties.get(k) for k in PUBLIC_PROPERTIES})
    view["previousId"] = dataset.previous_id
    # A newer published version supersedes this one; the catalogue says so (EUCAIM's nextId).
    newer = select(Dataset.id).where(
        Dataset.previous_id == dataset.id, Dataset.state == DatasetState.PUBLISHED.value
    )
    view["supersededBy"] = list(session.scalars(newer))
    view["biobank"] = {"code": biobank.code, "name": biobank.name} if biobank else None
    view["publishedAt"] = dataset.published_at.isoformat() if dataset.published_at else None
    view["aggregates"] = public_aggregates(dataset.aggregates or {}, threshold=threshold)
    return view


def _published(session: Session) -> list[Dataset]:
    query = select(Dataset).where(Dataset.state == DatasetState.PUBLISHED.value)
    return list(session.scalars(query.order_by(Dataset.published_at.desc(), Dataset.id)))


def list_published(session: Session, *, threshold: int) -> list[dict[str, Any]]:
    """Return the public views of every published dataset, newest first."""
    return [public_view(session, d, threshold=threshold) for d in _published(session)]


def get_published(session: Session, *, dataset_id: str, threshold: int) -> dict[str, Any]:
    """Return one published dataset's public view.

    Raises:
        NotFound: no published dataset with this id (drafts, released and invalidated ones included).
    """
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.state != DatasetState.PUBLISHED.value:
        raise NotFound(f"no published dataset {dataset_id!r} in this catalogue")
    return public_view(session, dataset, threshold=threshold)


def search(session: Session, *, ast: dict[str, Any], threshold: int) -> dict[str, Any]:
    """Evaluate a federated-search AST over the published datasets; return ``{collections: [...]}``.

    Raises:
        SearchError: the AST is malformed.
    """
    views = list_published(session, threshold=threshold)
    return {"collections": [collection(v) for v in views if matches(ast, v)]}
