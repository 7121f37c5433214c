"""Parsing of HTTP media types (``multipart/related; type="application/dicom"; boundary=x``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

MULTIPART_RELATED = "multipart/related"
APPLICATION_DICOM = "application/dicom"
APPLICATION_DICOM_JSON = "application/dicom+json"


@dataclass(frozen=True)
class MediaType:
    """A media type with lower-cased type and parameter names; parameter values keep their case."""

    type: str
    params: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        """Return the parameter ``name`` (case-insensitive), or None when absent."""
        return self.params.get(name.lower())


def parse_media_type(value: str) -> MediaType:
    """Parse a Content-Type or one Accept entry; quotes around parameter values are removed."""
    message = Message()
    message["content-type"] = value
    pairs = message.get_params(header="content-type", unquote=True) or []
    params = {k.lower(): v for k, v in pairs[1:]}
    # email.message falls back to text/plain for a value it cannot read; keep what was sent instead.
    raw_type = value.split(";", 1)[0].strip().lower()
    return MediaType(type=raw_type, params={k: str(v) for k, v in params.items()})
