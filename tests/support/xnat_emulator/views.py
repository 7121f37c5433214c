"""Render archive objects as XNAT renders them: ResultSet listings, ``items`` documents, XML catalogs.

Shapes follow what XNAT 1.8 returns with ``format=json`` (and what xnatpy reads): listings are
``{"ResultSet": {"Result": [...], "totalRecords": "N"}}`` with string values; single objects are
``{"items": [{"meta": {...}, "data_fields": {...}, "children": [...]}]}``.
"""

from __future__ import annotations

import fnmatch
from typing import Any
from xml.sax.saxutils import quoteattr

from .model import (
    Entity,
    Experiment,
    ListChild,
    PrearchiveSession,
    Project,
    Resource,
    Scan,
    StoredFile,
    Subject,
)

JSON = dict[str, Any]


def filter_rows(rows: list[dict[str, str]], params: dict[str, str]) -> list[dict[str, str]]:
    """Keep rows matching every ``key=pattern`` query parameter naming a column (``*`` wildcards).

    XNAT's search-backed listings filter this way, e.g. ``/data/projects/P/experiments?label=E1``.
    """
    for key, pattern in params.items():
        if key in {"format", "columns"}:
            continue
        rows = [r for r in rows if key not in r or fnmatch.fnmatchcase(r[key], pattern)]
    return rows


def result_set(rows: list[dict[str, str]], columns: str | None = None, title: str = "") -> JSON:
    """A listing; ``columns`` (comma-separated) keeps only those keys, as XNAT's ``columns=`` does."""
    if columns:
        wanted = [c for c in columns.split(",") if c]
        rows = [{k: row[k] for k in wanted if k in row} for row in rows]
    body: JSON = {"Result": rows, "totalRecords": str(len(rows))}
    if title:
        body["title"] = title
    return {"ResultSet": body}


def project_uri(project_id: str) -> str:
    return f"/data/projects/{project_id}"


def subject_uri(subject: Subject) -> str:
    return f"/data/projects/{subject.data_fields['project']}/subjects/{subject.id}"


def experiment_uri(experiment: Experiment) -> str:
    return f"/data/experiments/{experiment.id}"


def archive_uri(experiment: Experiment) -> str:
    """The URI the import and archive services return for a new session."""
    fields = experiment.data_fields
    subject_part = f"subjects/{fields['subject_ID']}/experiments/{experiment.id}"
    return f"/data/archive/projects/{fields['project']}/{subject_part}"


def project_row(project: Project) -> dict[str, str]:
    fields = project.data_fields
    return {
        "ID": project.id,
        "secondary_ID": fields.get("secondary_ID", project.id),
        "name": fields.get("name", project.id),
        "description": fields.get("description", ""),
        "pi_firstname": fields.get("PI/firstname", ""),
        "pi_lastname": fields.get("PI/lastname", ""),
        "URI": project_uri(project.id),
    }


def subject_row(subject: Subject) -> dict[str, str]:
    return {
        "ID": subject.id,
        "project": subject.data_fields["project"],
        "label": subject.label,
        "insert_date": subject.insert_date,
        "insert_user": subject.data_fields.get("insert_user", ""),
        "URI": subject_uri(subject),
    }


def experiment_row(experiment: Experiment) -> dict[str, str]:
    fields = experiment.data_fields
    return {
        "ID": experiment.id,
        "project": fields["project"],
        "label": experiment.label,
        "xsiType": experiment.xsi_type,
        "subject_ID": fields["subject_ID"],
        "date": fields.get("date", ""),
        "insert_date": experiment.insert_date,
        "URI": experiment_uri(experiment),
    }


def scan_row(scan: Scan, owner_uri: str) -> dict[str, str]:
    fields = scan.data_fields
    return {
        "ID": scan.id,
        "xsiType": scan.xsi_type,
        "type": fields.get("type", ""),
        "series_description": fields.get("series_description", ""),
        "quality": fields.get("quality", "usable"),
        "note": fields.get("note", ""),
        "URI": f"{owner_uri}/scans/{scan.id}",
    }


def resource_row(resource: Resource, category: str, owner_id: str) -> dict[str, str]:
    return {
        "xnat_abstractresource_id": resource.id,
        "label": resource.label,
        "element_name": "xnat:resourceCatalog",
        "category": category,
        "cat_id": owner_id,
        "cat_desc": "",
        "format": resource.file_format,
        "content": resource.content,
        "tags": resource.tags,
        "file_count": str(len(resource.files)),
        "file_size": str(sum(f.size for f in resource.files.values())),
    }


def file_row(stored: StoredFile, resource: Resource, resource_uri: str) -> dict[str, str]:
    return {
        "Name": stored.name.rsplit("/", 1)[-1],
        "Size": str(stored.size),
        "URI": f"{resource_uri}/files/{stored.name}",
        "collection": resource.label,
        "file_tags": stored.tags,
        "file_format": stored.file_format,
        "file_content": stored.content,
        "cat_ID": resource.id,
        "digest": stored.digest,
    }


def _child_items(children: list[ListChild]) -> list[JSON]:
    return [
        {
            "children": [],
            "meta": {"isHistory": False, "xsi:type": c.xsi_type},
            "data_fields": dict(c.data_fields),
        }
        for c in children
    ]


def entity_item(entity: Entity, extra_children: list[JSON] | None = None) -> JSON:
    """One object as an ``items`` entry: its fields, custom fields and nested children."""
    children: list[JSON] = [
        {"field": path, "items": _child_items(items)} for path, items in entity.lists.items()
    ]
    children += [{"field": path, "items": _child_items([child])} for path, child in entity.nested.items()]
    children += extra_children or []
    meta = {"isHistory": False, "xsi:type": entity.xsi_type, "start_date": entity.insert_date}
    return {"children": children, "meta": meta, "data_fields": dict(entity.data_fields)}


def items(item: JSON) -> JSON:
    return {"items": [item]}


def resource_children(resources: dict[str, Resource], field: str) -> list[JSON]:
    if not resources:
        return []
    entries = [
        {
            "children": [],
            "meta": {"isHistory": False, "xsi:type": "xnat:resourceCatalog"},
            "data_fields": {
                "label": r.label,
                "format": r.file_format,
                "content": r.content,
                "file_count": len(r.files),
                "xnat_abstractresource_id": int(r.id),
            },
        }
        for r in resources.values()
    ]
    return [{"field": field, "items": entries}]


def experiment_item(experiment: Experiment) -> JSON:
    scans = [
        entity_item(scan, resource_children(scan.resources, "file")) for scan in experiment.scans.values()
    ]
    extra = [{"field": "scans/scan", "items": scans}] if scans else []
    extra += resource_children(experiment.resources, "resources/resource")
    return entity_item(experiment, extra)


def catalog_xml(resource: Resource) -> str:
    """A resource's catalog, which XNAT returns for a resource URL whatever ``format`` asks for."""
    entries = "".join(
        f"\n<cat:entry URI={quoteattr(f.name)} ID={quoteattr(f.name)} digest={quoteattr(f.digest)}"
        f' xsi:type="cat:entry"/>'
        for f in resource.files.values()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<cat:Catalog'
        ' xmlns:cat="http://nrg.wustl.edu/catalog" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f" ID={quoteattr(resource.id)}>\n<cat:entries>{entries}\n</cat:entries>\n</cat:Catalog>\n"
    )


def prearchive_row(session: PrearchiveSession) -> dict[str, str]:
    return {
        "project": session.project,
        "timestamp": session.timestamp,
        "lastmod": session.uploaded,
        "uploaded": session.uploaded,
        "scan_date": session.scan_date,
        "scan_time": session.scan_time,
        "subject": session.subject,
        "folderName": session.name,
        "name": session.name,
        "tag": session.tag,
        "status": session.status,
        "url": session.url,
        "visit": "",
        "protocol": "",
        "TIMEZONE": "",
        "SOURCE": "",
        "autoarchive": "",
        "prevent_anon": "false",
        "prevent_auto_commit": "false",
    }
