"""What a dataset's images declare about their de-identification, read from a sample of stored objects.

The index keeps no de-identification attributes, so the validator's review reads them from the
image store: one instance per series (up to :data:`MAX_SAMPLED`), header only, and counts the
values of PatientIdentityRemoved, DeidentificationMethod, the DeidentificationMethodCodeSequence
codes and BurnedInAnnotation. Nothing identifying is read or returned.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pydicom
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eucaim.errors import NotFound
from eucaim.node.models import Instance
from eucaim.node.models_datasets import DatasetSeries
from eucaim.node.store import ImageStore

MAX_SAMPLED = 50
_TAGS = [
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "BurnedInAnnotation",
]


@dataclass
class Declarations:
    """Counts of each declared value over the sampled images (``""`` stands for an absent attribute)."""

    sampled: int = 0
    total: int = 0
    missing_objects: int = 0
    identity_removed: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    burned_in: Counter[str] = field(default_factory=Counter)


def read_declarations(session: Session, store: ImageStore, *, dataset_id: str) -> Declarations:
    """Sample one instance per series of the dataset and count what they declare.

    The caller has checked that the user may see the dataset.
    """
    out = Declarations()
    out.total = int(
        session.scalar(
            select(func.count())
            .select_from(Instance)
            .join(DatasetSeries, DatasetSeries.series_id == Instance.series_id)
            .where(DatasetSeries.dataset_id == dataset_id)
        )
        or 0
    )
    first = (
        select(func.min(Instance.id))
        .join(DatasetSeries, DatasetSeries.series_id == Instance.series_id)
        .where(DatasetSeries.dataset_id == dataset_id)
        .group_by(Instance.series_id)
        .limit(MAX_SAMPLED)
    )
    keys = session.scalars(select(Instance.storage_key).where(Instance.id.in_(first)))
    for key in keys:
        try:
            with store.open(key) as f:
                ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=_TAGS)
        except NotFound:
            out.missing_objects += 1
            continue
        out.sampled += 1
        out.identity_removed[str(ds.get("PatientIdentityRemoved", "") or "")] += 1
        methods = ds.get("DeidentificationMethod", "")
        for method in methods if isinstance(methods, pydicom.multival.MultiValue) else [methods]:
            out.methods[str(method or "")] += 1
        codes = ds.get("DeidentificationMethodCodeSequence") or []
        if not codes:
            out.codes[""] += 1
        for item in codes:
            out.codes[f"{item.get('CodeValue', '?')} {item.get('CodeMeaning', '')}".strip()] += 1
        out.burned_in[str(ds.get("BurnedInAnnotation", "") or "")] += 1
    return out
