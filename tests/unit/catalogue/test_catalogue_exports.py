"""DCAT-AP (parsed back with rdflib, mandatory fields present), Beacon metadata and the search AST."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from eucaim.catalogue.aggregation import SeriesFacts, StudyFacts, aggregate
from eucaim.catalogue.beacon import collection_metadata
from eucaim.catalogue.dcat import DCAT_VERSION, EUCAIM, HEALTHDCATAP, dataset_graph, to_jsonld, to_turtle
from eucaim.catalogue.disclosure import public_aggregates
from eucaim.catalogue.search import SearchError, collection, matches

LANDING = "https://node.example/catalogue/datasets/ds-1"


def _public(n: int = 10, **overrides: Any) -> dict[str, Any]:
    series = [
        SeriesFacts(f"S{i}", f"s{i}", "CT" if i % 2 else "MR", "CHEST", "Siemens", 3, 100) for i in range(n)
    ]
    studies = [
        StudyFacts(f"S{i}", f"s{i}", "F" if i % 2 else "M", f"{40 + i:03d}Y", f"20{10 + i}0101")
        for i in range(n)
    ]
    view = {
        "id": "ds-1",
        "name": "Lung CT",
        "description": "Chest CT",
        "version": "1.0",
        "purpose": "research",
        "type": ["original"],
        "collectionMethod": ["cohort"],
        "provenance": "Hospital X",
        "license": {"title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
        "contact": {"name": "Data Office", "email": "data@hospital.example"},
        "keywords": ["lung"],
        "cancerCondition": "Lung cancer",
        "interoperabilityTier": "tier 1",
        "aggregates": public_aggregates(aggregate(series, studies), threshold=5),
    }
    view.update(overrides)
    return view


MANDATORY = [
    DCTERMS.identifier, DCTERMS.title, DCTERMS.description, DCAT_VERSION, EUCAIM.interoperabilityTier,
    DCAT.distribution, DCAT.contactPoint, HEALTHDCATAP.healthCategory, DCTERMS.type, DCTERMS.accessRights,
    DCTERMS.publisher, HEALTHDCATAP.numberOfUniqueIndividuals, HEALTHDCATAP.numberOfRecords, EUCAIM.birthSex,
    EUCAIM.cancerCondition, EUCAIM.collectionMethod, EUCAIM.modality, EUCAIM.manufacturer, EUCAIM.bodyPart,
    DCAT.keyword, DCTERMS.provenance,
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["turtle", "json-ld"])
def test_dcat_output_parses_and_has_every_mandatory_field(fmt: str) -> None:
    graph = dataset_graph(_public(), landing_url=LANDING, publisher="Hospital X biobank")
    text = to_turtle(graph) if fmt == "turtle" else to_jsonld(graph)
    with warnings.catch_warnings():
        # rdflib 7's own JSON-LD parser builds a ConjunctiveGraph, which rdflib itself deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        parsed = Graph().parse(data=text, format=fmt)
    ds = URIRef(LANDING)
    assert (ds, RDF.type, DCAT.Dataset) in parsed
    missing = [str(p) for p in MANDATORY if parsed.value(ds, p) is None]
    assert missing == []
    assert str(parsed.value(ds, HEALTHDCATAP.numberOfUniqueIndividuals)) == "10"
    assert parsed.value(ds, HEALTHDCATAP.minTypicalAge).toPython() == 40
    if fmt == "json-ld":
        json.loads(text)


def test_dcat_keeps_suppressed_counts_suppressed() -> None:
    graph = dataset_graph(_public(3), landing_url=LANDING, publisher="X")
    assert str(graph.value(URIRef(LANDING), HEALTHDCATAP.numberOfUniqueIndividuals)) == "<5"
    assert graph.value(URIRef(LANDING), HEALTHDCATAP.minTypicalAge) is None


def test_beacon_collection_metadata() -> None:
    meta = collection_metadata(_public())
    assert meta["subjectsCount"] == 10 and meta["studiesCount"] == 10
    assert meta["ageRange"] == {"min": 40, "max": 49, "unit": "years"}
    assert {"id": "DCM:CT", "label": "Computed Tomography", "count": 5} in meta["modalities"]
    assert {t["id"] for t in meta["gender"]} == {"SNOMEDCT:248152002", "SNOMEDCT:248153007"}


def _ast(*children: dict[str, Any], operand: str = "AND") -> dict[str, Any]:
    return {"operand": operand, "children": list(children)}


def test_search_ast_keys_and_operators() -> None:
    view = _public()
    assert matches(_ast({"key": "RID10311", "type": "EQUALS", "value": "CT"}), view)
    assert matches(_ast({"key": "modality", "type": "IN", "value": ["PT", "Magnetic Resonance"]}), view)
    assert not matches(_ast({"key": "modality", "type": "IN", "value": ["PT", "US"]}), view)
    assert matches(_ast({"key": "modality", "type": "NOT_EQUALS", "value": "US"}), view)
    assert matches(_ast({"key": "SNOMEDCT123037004", "type": "EQUALS", "value": "51185008"}), view)
    assert matches(_ast({"key": "SNOMEDCT263495000", "type": "EQUALS", "value": "female"}), view)
    assert matches(_ast({"key": "C25392", "type": "CONTAINS", "value": "siem"}), view)
    assert matches(
        _ast({"key": "SNOMEDCT423493009", "type": "BETWEEN", "value": {"min": 45, "max": 90}}), view
    )
    assert not matches(_ast({"key": "age", "type": "BETWEEN", "value": [60, 90]}), view)
    assert matches(_ast({"key": "age", "type": "LOWER_THAN", "value": 41}), view)
    assert not matches(_ast({"key": "age", "type": "GREATER_THAN", "value": 49}), view)
    assert matches(_ast({"key": "SNOMEDCT432213005", "type": "EQUALS", "value": 2015}), view)
    both = _ast(
        {"key": "modality", "type": "EQUALS", "value": "US"}, {"key": "sex", "type": "EQUALS", "value": "M"}
    )
    assert not matches(both, view)
    assert matches({**both, "operand": "OR"}, view)
    assert matches(_ast(), view)  # no condition: every published dataset


def test_withheld_ranges_match_no_range_query_and_bad_asts_are_refused() -> None:
    small = _public(3)
    assert not matches(_ast({"key": "age", "type": "BETWEEN", "value": [0, 200]}), small)
    with pytest.raises(SearchError, match="unknown search key"):
        matches(_ast({"key": "weight", "type": "EQUALS", "value": 1}), small)
    with pytest.raises(SearchError, match="unknown condition type"):
        matches(_ast({"key": "age", "type": "ABOUT", "value": 1}), small)
    with pytest.raises(SearchError, match="operand"):
        matches({"operand": "XOR", "children": []}, small)
    with pytest.raises(SearchError, match="BETWEEN"):
        matches(_ast({"key": "age", "type": "BETWEEN", "value": 3}), _public())


def test_search_collection_entry() -> None:
    entry = collection(_public())
    assert entry["subjects_count"] == 10 and entry["age_range"] == {"min": 40, "max": 49}
    assert entry["modality"] == ["Computed Tomography", "Magnetic Resonance"]
