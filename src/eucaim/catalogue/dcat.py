"""EUCAIM DCAT-AP export: one published dataset's public view as an RDF graph (JSON-LD, Turtle).

The graph carries the fields EUCAIM DCAT-AP v2.0 marks mandatory: identifier, title, description,
version, interoperability tier, distribution, contact point, health category, type, access rights,
publisher, number of unique individuals, number of records (studies), birth sex, cancer condition,
collection method, modality, manufacturer, body part, keyword and provenance; and the recommended
minimum/maximum typical age and acquisition period when the (suppressed) aggregates show them.
Only the public view goes in, so suppressed counts stay suppressed: a ``"<5"`` becomes a literal.

The EUCAIM-specific properties use the ``eucaim:`` namespace below and the HealthDCAT-AP ones
``healthdcatap:``; coded values are IRIs where the harmonisation table has a code.
"""

from __future__ import annotations

from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, XSD

EUCAIM = Namespace("https://w3id.org/eucaim/dcat-ap#")
HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SNOMED = Namespace("http://snomed.info/id/")
DCM = Namespace("http://dicom.nema.org/resources/ontology/DCM/")
ACCESS_RIGHTS_RESTRICTED = URIRef("http://publications.europa.eu/resource/authority/access-right/RESTRICTED")
HEALTH_CATEGORY_IMAGING = URIRef("http://healthdataportal.eu/ns/health#IMAGING")
# DCAT 3 adds dcat:version; rdflib's closed DCAT namespace predates it and would warn.
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")


def _term_node(graph: Graph, row: dict[str, Any]) -> URIRef | Literal:
    code, system = row.get("code"), row.get("system")
    if code and system == "SNOMED-CT":
        node = SNOMED[str(code)]
    elif code and system == "DCM":
        node = DCM[str(code)]
    else:
        return Literal(row["label"])
    graph.add((node, RDFS.label, Literal(row["label"])))
    return node


def _count(value: int | str) -> Literal:
    return Literal(value, datatype=XSD.nonNegativeInteger) if isinstance(value, int) else Literal(value)


def dataset_graph(public: dict[str, Any], *, landing_url: str, publisher: str) -> Graph:
    """Return the DCAT-AP graph of a published dataset's public view (see module docstring)."""
    graph = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD)):
        graph.bind(prefix, ns)
    graph.bind("eucaim", EUCAIM)
    graph.bind("healthdcatap", HEALTHDCATAP)
    graph.bind("snomed", SNOMED)
    graph.bind("dcm", DCM)
    ds = URIRef(landing_url)
    agg = public["aggregates"]
    graph.add((ds, RDF.type, DCAT.Dataset))
    graph.add((ds, DCTERMS.identifier, Literal(public["id"])))
    graph.add((ds, DCTERMS.title, Literal(public["name"])))
    graph.add((ds, DCTERMS.description, Literal(public.get("description") or "")))
    graph.add((ds, DCAT_VERSION, Literal(public.get("version") or "")))
    graph.add((ds, EUCAIM.interoperabilityTier, Literal(public.get("interoperabilityTier") or "unknown")))
    graph.add((ds, DCAT.landingPage, ds))
    graph.add((ds, DCTERMS.accessRights, ACCESS_RIGHTS_RESTRICTED))
    graph.add((ds, HEALTHDCATAP.healthCategory, HEALTH_CATEGORY_IMAGING))
    for value in public.get("type") or []:
        graph.add((ds, DCTERMS.type, Literal(value)))
    for value in public.get("collectionMethod") or []:
        graph.add((ds, EUCAIM.collectionMethod, Literal(value)))
    graph.add((ds, DCTERMS.provenance, Literal(public.get("provenance") or "")))
    for keyword in public.get("keywords") or []:
        graph.add((ds, DCAT.keyword, Literal(keyword)))
    graph.add((ds, EUCAIM.cancerCondition, Literal(public.get("cancerCondition") or "")))
    if public.get("purpose"):
        graph.add((ds, EUCAIM.purpose, Literal(public["purpose"])))
    if public.get("previousId"):
        graph.add((ds, DCTERMS.isVersionOf, Literal(public["previousId"])))
    _add_agents(graph, ds, public, publisher)
    _add_distribution(graph, ds, public, landing_url)
    graph.add((ds, HEALTHDCATAP.numberOfUniqueIndividuals, _count(agg["subjects"])))
    graph.add((ds, HEALTHDCATAP.numberOfRecords, _count(agg["studies"])))
    for key, prop in (
        ("sex", EUCAIM.birthSex),
        ("modality", EUCAIM.modality),
        ("manufacturer", EUCAIM.manufacturer),
        ("bodyPart", EUCAIM.bodyPart),
    ):
        for row in agg[key]:
            if row.get("code") is None and row["label"] == "Unknown":
                continue  # unknown counts belong to the catalogue view, not to a coded property
            graph.add((ds, prop, _term_node(graph, row)))
    age = agg["ageYears"]
    if age.get("min") is not None:
        graph.add((ds, HEALTHDCATAP.minTypicalAge, Literal(age["min"], datatype=XSD.nonNegativeInteger)))
        graph.add((ds, HEALTHDCATAP.maxTypicalAge, Literal(age["max"], datatype=XSD.nonNegativeInteger)))
    years = agg["acquisitionYear"]
    if years.get("min") is not None:
        period = BNode()
        graph.add((ds, DCTERMS.temporal, period))
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        graph.add((period, DCAT.startDate, Literal(str(years["min"]), datatype=XSD.gYear)))
        graph.add((period, DCAT.endDate, Literal(str(years["max"]), datatype=XSD.gYear)))
    return graph


def _add_agents(graph: Graph, ds: URIRef, public: dict[str, Any], publisher: str) -> None:
    agent = BNode()
    graph.add((ds, DCTERMS.publisher, agent))
    graph.add((agent, RDF.type, FOAF.Agent))
    graph.add((agent, FOAF.name, Literal(publisher)))
    contact = public.get("contact") or {}
    point = BNode()
    graph.add((ds, DCAT.contactPoint, point))
    graph.add((point, RDF.type, VCARD.Kind))
    graph.add((point, VCARD.fn, Literal(contact.get("name") or contact.get("email") or "")))
    if contact.get("email"):
        graph.add((point, VCARD.hasEmail, URIRef(f"mailto:{contact['email']}")))


def _add_distribution(graph: Graph, ds: URIRef, public: dict[str, Any], landing_url: str) -> None:
    dist = BNode()
    graph.add((ds, DCAT.distribution, dist))
    graph.add((dist, RDF.type, DCAT.Distribution))
    graph.add((dist, DCAT.accessURL, URIRef(landing_url)))
    graph.add(
        (dist, DCAT.byteSize, Literal(public["aggregates"]["sizeBytes"], datatype=XSD.nonNegativeInteger))
    )
    graph.add((dist, DCTERMS.format, Literal("DICOM")))
    license_ = public.get("license") or {}
    if license_.get("url"):
        graph.add((dist, DCTERMS.license, URIRef(license_["url"])))
        graph.add((URIRef(license_["url"]), DCTERMS.title, Literal(license_.get("title") or "")))


def to_jsonld(graph: Graph) -> str:
    """Serialise ``graph`` as JSON-LD."""
    return graph.serialize(format="json-ld", indent=2)


def to_turtle(graph: Graph) -> str:
    """Serialise ``graph`` as Turtle."""
    return graph.serialize(format="turtle")
