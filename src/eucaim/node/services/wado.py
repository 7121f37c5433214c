"""WADO-RS: find the stored objects a retrieve URL names, and read their metadata as DICOM JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydicom
from sqlalchemy import select
from sqlalchemy.orm import Session

from eucaim.errors import NotFound, StateError
from eucaim.node.models import Instance, Series, Study
from eucaim.node.store import ImageStore

TRANSFER_SYNTAX_UID_TAG = "00020010"


@dataclass(frozen=True)
class StoredObject:
    """Where an indexed instance's bytes are, and how they are encoded."""

    storage_key: str
    transfer_syntax_uid: str
    sop_instance_uid: str
    size: int


def find_objects(
    session: Session,
    *,
    biobank_id: int,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[StoredObject]:
    """Return the objects of a study, a series or one instance, in instance-number order.

    Raises:
        NotFound: nothing matches.
    """
    stmt = (
        select(Instance)
        .join(Series, Instance.series_id == Series.id)
        .join(Study, Series.study_id == Study.id)
        .where(Instance.biobank_id == biobank_id, Study.study_instance_uid == study_uid)
    )
    if series_uid is not None:
        stmt = stmt.where(Series.series_instance_uid == series_uid)
    if sop_uid is not None:
        stmt = stmt.where(Instance.sop_instance_uid == sop_uid)
    stmt = stmt.order_by(Series.id, Instance.instance_number, Instance.id)
    objects = [
        StoredObject(i.storage_key, i.transfer_syntax_uid, i.sop_instance_uid, i.size)
        for i in session.scalars(stmt)
    ]
    if not objects:
        what = "instance" if sop_uid else "series" if series_uid else "study"
        raise NotFound(f"no such {what} in this biobank", hint="search with QIDO-RS to see what is stored")
    return objects


def read_metadata(store: ImageStore, obj: StoredObject) -> dict[str, Any]:
    """Return an instance's attributes as DICOM JSON, without pixel data.

    Binary values are inlined (InlineBinary); no BulkDataURI is offered yet.

    Raises:
        StateError: the index lists the object but the store does not have it.
    """
    try:
        f = store.open(obj.storage_key)
    except NotFound:
        raise StateError(
            "an indexed instance is missing from the image store",
            hint="the operator should check the store against the index",
        ) from None
    with f:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
    body: dict[str, Any] = ds.to_json_dict()
    body[TRANSFER_SYNTAX_UID_TAG] = {"vr": "UI", "Value": [obj.transfer_syntax_uid]}
    return dict(sorted(body.items()))
