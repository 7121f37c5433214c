"""The public catalogue (anonymous): published datasets' aggregated metadata, DCAT-AP, Beacon, search.

=========  ==========================================  ======================================
method     path                                        what
=========  ==========================================  ======================================
GET        /catalogue/datasets                         published datasets (public views)
GET        /catalogue/datasets/{id}                    one public view
GET        /catalogue/datasets/{id}/dcat.jsonld        EUCAIM DCAT-AP as JSON-LD
GET        /catalogue/datasets/{id}/dcat.ttl           EUCAIM DCAT-AP as Turtle
GET        /catalogue/datasets/{id}/beacon             Beacon CollectionMetadata
POST       /catalogue/search                           EUCAIM federated-search AST
GET        /catalogue/search?modality=CT&bodyPart=...  the same, from query parameters
=========  ==========================================  ======================================

No token is needed or read here: nothing a caller sends changes what these show.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from eucaim.catalogue.beacon import collection_metadata
from eucaim.catalogue.dcat import dataset_graph, to_jsonld, to_turtle
from eucaim.catalogue.search import SearchError
from eucaim.node.api.deps import Context
from eucaim.node.db import session_scope
from eucaim.node.errors import InvalidRequest
from eucaim.node.services import catalogue

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

# Query parameters of the simple search and the AST keys they stand for.
SIMPLE_KEYS = ("modality", "bodyPart", "sex", "manufacturer", "diagnosis")


def _threshold(context: Context) -> int:
    return int(context.settings.suppression_threshold)


def _landing(request: Request, context: Context, dataset_id: str) -> str:
    base = (context.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/catalogue/datasets/{dataset_id}"


@router.get("/datasets", summary="Published datasets (aggregated metadata only)")
def list_datasets(context: Context) -> list[dict[str, Any]]:
    with session_scope(context.sessions) as session:
        return catalogue.list_published(session, threshold=_threshold(context))


@router.get("/datasets/{dataset_id}", summary="One published dataset (aggregated metadata only)")
def show_dataset(dataset_id: str, context: Context) -> dict[str, Any]:
    with session_scope(context.sessions) as session:
        return catalogue.get_published(session, dataset_id=dataset_id, threshold=_threshold(context))


def _graph(dataset_id: str, request: Request, context: Context) -> Any:
    with session_scope(context.sessions) as session:
        view = catalogue.get_published(session, dataset_id=dataset_id, threshold=_threshold(context))
    publisher = (view.get("biobank") or {}).get("name") or "EUCAIM reference node"
    return dataset_graph(view, landing_url=_landing(request, context, dataset_id), publisher=publisher)


@router.get("/datasets/{dataset_id}/dcat.jsonld", summary="EUCAIM DCAT-AP (JSON-LD)")
def dcat_jsonld(dataset_id: str, request: Request, context: Context) -> Response:
    return Response(to_jsonld(_graph(dataset_id, request, context)), media_type="application/ld+json")


@router.get("/datasets/{dataset_id}/dcat.ttl", summary="EUCAIM DCAT-AP (Turtle)")
def dcat_turtle(dataset_id: str, request: Request, context: Context) -> Response:
    return Response(to_turtle(_graph(dataset_id, request, context)), media_type="text/turtle")


@router.get("/datasets/{dataset_id}/beacon", summary="Beacon CollectionMetadata")
def beacon(dataset_id: str, context: Context) -> dict[str, Any]:
    with session_scope(context.sessions) as session:
        view = catalogue.get_published(session, dataset_id=dataset_id, threshold=_threshold(context))
    return collection_metadata(view)


def _search(context: Context, ast: dict[str, Any]) -> dict[str, Any]:
    try:
        with session_scope(context.sessions) as session:
            return catalogue.search(session, ast=ast, threshold=_threshold(context))
    except SearchError as exc:
        raise InvalidRequest(f"search: {exc}", parameter="ast") from exc


@router.post("/search", summary="Federated search (EUCAIM AST) over published datasets")
def search(body: dict[str, Any], context: Context) -> dict[str, Any]:
    ast = body.get("ast", body)
    if not isinstance(ast, dict):
        raise InvalidRequest("search: the body must be {'ast': {'operand': ..., 'children': [...]}}")
    return _search(context, ast)


@router.get(
    "/search", summary="Simple search: ?modality=CT&bodyPart=CHEST&sex=F&minAge=40&maxAge=70&year=2020"
)
def simple_search(
    context: Context,
    modality: str | None = None,
    bodyPart: str | None = None,
    sex: str | None = None,
    manufacturer: str | None = None,
    diagnosis: str | None = None,
    minAge: float | None = None,
    maxAge: float | None = None,
    year: int | None = None,
) -> dict[str, Any]:
    given = {"modality": modality, "bodyPart": bodyPart, "sex": sex, "manufacturer": manufacturer}
    given["diagnosis"] = diagnosis
    children: list[dict[str, Any]] = [
        {"key": key, "type": "IN", "value": value.split(",")} for key, value in given.items() if value
    ]
    if minAge is not None or maxAge is not None:
        children.append({"key": "age", "type": "BETWEEN", "value": {"min": minAge, "max": maxAge}})
    if year is not None:
        children.append({"key": "year", "type": "EQUALS", "value": year})
    return _search(context, {"operand": "AND", "children": children})
