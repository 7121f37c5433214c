"""The emulated XNAT archive's objects: projects, subjects, experiments, scans, resources and files.

Field names follow XNAT's JSON (``data_fields`` keys as the real server returns them), so the views
can render an object without translating names. Values are strings, as XNAT returns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Role(StrEnum):
    """A user's role in one project, as XNAT's project user groups."""

    OWNER = "owner"
    MEMBER = "member"
    COLLABORATOR = "collaborator"

    @property
    def group(self) -> str:
        """XNAT's group name for the role (``Owners``, ``Members``, ``Collaborators``)."""
        return f"{self.value.capitalize()}s"


class Accessibility(StrEnum):
    """Project accessibility, as set by ``PUT /data/projects/{ID}/accessibility/{level}``."""

    PRIVATE = "private"
    PROTECTED = "protected"
    PUBLIC = "public"


@dataclass
class StoredFile:
    """One file of a resource; the bytes live on disk under the emulator's root."""

    name: str
    size: int
    digest: str
    blob: Path
    file_format: str = ""
    content: str = ""
    tags: str = ""


@dataclass
class ListChild:
    """One entry of a repeated child element, e.g. a custom field ``fields/field[name=age]``."""

    xsi_type: str
    data_fields: dict[str, str]


@dataclass
class Entity:
    """What every archive object shares: its xsi:type, flat data fields and child elements.

    ``lists`` maps a child path (``fields/field``) to its entries; ``nested`` maps a single child
    element (``demographics``) to its xsi:type and fields. Both appear as ``children`` in JSON.
    """

    xsi_type: str
    data_fields: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[ListChild]] = field(default_factory=dict)
    nested: dict[str, ListChild] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    insert_date: str = ""

    @property
    def id(self) -> str:
        return self.data_fields.get("ID", "")

    @property
    def label(self) -> str:
        return self.data_fields.get("label", "")

    def custom_fields(self) -> dict[str, str]:
        """The custom variables (``fields/field``) as name to value."""
        return {
            entry.data_fields.get("name", ""): entry.data_fields.get("field", "")
            for entry in self.lists.get("fields/field", [])
        }


@dataclass
class Resource:
    """A resource (``xnat:resourceCatalog``) holding files, at any level of the hierarchy."""

    id: str
    label: str
    file_format: str = ""
    content: str = ""
    tags: str = ""
    files: dict[str, StoredFile] = field(default_factory=dict)


@dataclass
class Scan(Entity):
    """An image scan; after a DICOM import, one per SeriesInstanceUID."""


@dataclass
class Experiment(Entity):
    """An experiment (image session or other assessor of a subject)."""

    scans: dict[str, Scan] = field(default_factory=dict)


@dataclass
class Subject(Entity):
    """A subject of one project."""


@dataclass
class Project(Entity):
    """A project, with its users' roles, accessibility and prearchive mode."""

    accessibility: Accessibility = Accessibility.PRIVATE
    prearchive_code: int = 0
    roles: dict[str, Role] = field(default_factory=dict)
    read_only: bool = False


@dataclass
class PrearchiveSession:
    """A session waiting in the prearchive (``/prearchive/projects/{P}/{timestamp}/{name}``)."""

    project: str
    timestamp: str
    name: str
    subject: str
    status: str
    uploaded: str
    scan_date: str = ""
    scan_time: str = ""
    tag: str = ""
    session_xsi_type: str = "xnat:otherDicomSessionData"
    session_fields: dict[str, str] = field(default_factory=dict)
    scans: dict[str, Scan] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The path XNAT lists in ``url`` (without ``/data``)."""
        return f"/prearchive/projects/{self.project}/{self.timestamp}/{self.name}"

    @property
    def data_url(self) -> str:
        """The REST URI, as the import service returns it."""
        return f"/data{self.url}"


# DICOM Modality to the session and scan types XNAT's DICOM importer creates for it.
SESSION_TYPES: dict[str, tuple[str, str]] = {
    "MR": ("xnat:mrSessionData", "xnat:mrScanData"),
    "CT": ("xnat:ctSessionData", "xnat:ctScanData"),
    "PT": ("xnat:petSessionData", "xnat:petScanData"),
    "US": ("xnat:usSessionData", "xnat:usScanData"),
    "CR": ("xnat:crSessionData", "xnat:crScanData"),
    "DX": ("xnat:dxSessionData", "xnat:dxScanData"),
    "MG": ("xnat:mgSessionData", "xnat:mgScanData"),
    "NM": ("xnat:nmSessionData", "xnat:nmScanData"),
    "XA": ("xnat:xaSessionData", "xnat:xaScanData"),
    "SR": ("xnat:srSessionData", "xnat:srScanData"),
}
OTHER_DICOM_TYPES = ("xnat:otherDicomSessionData", "xnat:otherDicomScanData")


def types_for_modality(modality: str) -> tuple[str, str]:
    """The (session, scan) xsi:types XNAT uses for a DICOM Modality value."""
    return SESSION_TYPES.get(modality.upper(), OTHER_DICOM_TYPES)
