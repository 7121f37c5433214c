"""QIDO-RS routes: search a biobank's studies, series and instances (DICOM JSON results)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from eucaim.node.api.deps import BiobankRef, Context, ReadableBiobank
from eucaim.node.api.routes.dicomweb_common import DICOM_JSON, PREFIX, biobank_urls
from eucaim.node.context import NodeContext
from eucaim.node.dicomweb.attributes import Level
from eucaim.node.dicomweb.qido import parse_query, render
from eucaim.node.services.qido import search

router = APIRouter(prefix=PREFIX, tags=["DICOMweb QIDO-RS"])

MORE_RESULTS = "There are additional results that can be requested"

_QUERY_DOC = (
    "Match on indexed attributes by keyword or tag (e.g. `PatientID=EUCAIM-*`, "
    "`StudyDate=20240101-20241231`, `ModalitiesInStudy=CT,MR`); page with `limit`/`offset`; add "
    "optional attributes with `includefield` (or `includefield=all`)."
)


def _search(
    request: Request,
    context: NodeContext,
    biobank: BiobankRef,
    level: Level,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> JSONResponse:
    query = parse_query(level, request.query_params.multi_items())
    with context.sessions() as session:
        found = search(
            session, biobank_id=biobank.id, query=query, study_uid=study_uid, series_uid=series_uid
        )
    urls = biobank_urls(request, context, biobank)
    results: list[dict[str, Any]] = []
    for row in found.rows:
        study, series = row["StudyInstanceUID"], row.get("SeriesInstanceUID")
        if level is Level.STUDY:
            url = urls.study(study)
        elif level is Level.SERIES:
            url = urls.series(study, str(series))
        else:
            url = urls.instance(study, str(series), row["SOPInstanceUID"])
        results.append(render(level, row, query.include, url))
    # PS3.18 §8.3.4.4: a truncated result says so in a Warning header.
    headers = {"Warning": f'299 eucaim-node "{MORE_RESULTS}"'} if found.more else None
    return JSONResponse(results, media_type=DICOM_JSON, headers=headers)


@router.get("/studies", summary="Search for studies (QIDO-RS)", description=_QUERY_DOC)
def search_studies(request: Request, context: Context, biobank: ReadableBiobank) -> JSONResponse:
    """Return matching studies with NumberOfStudyRelatedSeries/Instances and ModalitiesInStudy."""
    return _search(request, context, biobank, Level.STUDY)


@router.get("/series", summary="Search for series in the biobank (QIDO-RS)", description=_QUERY_DOC)
def search_all_series(request: Request, context: Context, biobank: ReadableBiobank) -> JSONResponse:
    """Return matching series of every study."""
    return _search(request, context, biobank, Level.SERIES)


@router.get("/instances", summary="Search for instances in the biobank (QIDO-RS)", description=_QUERY_DOC)
def search_all_instances(request: Request, context: Context, biobank: ReadableBiobank) -> JSONResponse:
    """Return matching instances of every study."""
    return _search(request, context, biobank, Level.INSTANCE)


@router.get(
    "/studies/{study}/series", summary="Search for a study's series (QIDO-RS)", description=_QUERY_DOC
)
def search_series(request: Request, study: str, context: Context, biobank: ReadableBiobank) -> JSONResponse:
    """Return matching series of one study."""
    return _search(request, context, biobank, Level.SERIES, study_uid=study)


@router.get(
    "/studies/{study}/instances", summary="Search for a study's instances (QIDO-RS)", description=_QUERY_DOC
)
def search_study_instances(
    request: Request, study: str, context: Context, biobank: ReadableBiobank
) -> JSONResponse:
    """Return matching instances of one study."""
    return _search(request, context, biobank, Level.INSTANCE, study_uid=study)


@router.get(
    "/studies/{study}/series/{series}/instances",
    summary="Search for a series' instances (QIDO-RS)",
    description=_QUERY_DOC,
)
def search_series_instances(
    request: Request, study: str, series: str, context: Context, biobank: ReadableBiobank
) -> JSONResponse:
    """Return matching instances of one series."""
    return _search(request, context, biobank, Level.INSTANCE, study_uid=study, series_uid=series)
