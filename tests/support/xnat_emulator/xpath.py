"""Apply XNAT's query-string xpaths (``xnat:subjectData/fields/field[name=age]/field=63``) to an object.

XNAT's REST API creates and edits objects with PUT and one query parameter per field, keyed by an
xpath rooted at the object's xsi:type. Three shapes occur in practice and in xnatpy:

- ``xsi/field=v`` or ``field=v``: a data field (``label``, ``date``; sub-objects keep their slash,
  ``PI/firstname``, as XNAT flattens them in ``data_fields``);
- ``xsi/path[key=K]/attr=v`` (or ``path[N]/attr``): an entry of a repeated child, e.g. custom fields
  ``fields/field[name=K]/field`` or scan parameters ``parameters/addParam[name=K]/addField``;
- ``xsi/path[@xsi:type=T]/attr=v``: a single nested child, e.g. ``demographics``.

The value ``NULL`` removes the field, as in XNAT.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .model import Entity, ListChild

# Query parameters that steer the request rather than set a field.
CONTROL_PARAMS = frozenset(
    {
        "xsiType",
        "xsitype",
        "req_format",
        "format",
        "inbody",
        "event_reason",
        "event_type",
        "event_action",
        "event_comment",
        "allowDataDeletion",
        "removeFiles",
        "columns",
        "overwrite",
        "activate",
        "quarantine",
        "pullDataFromHeaders",
        "fixScanTypes",
        "triggerPipelines",
    }
)
# Fields a client may not change through an xpath: XNAT assigns them.
SERVER_FIELDS = frozenset(
    {"ID", "id", "project", "subject_ID", "image_session_ID", "xnat_abstractresource_id"}
)

_SELECTOR = re.compile(r"^(?P<path>[^\[]+)\[(?P<selector>[^\]]+)\]/(?P<attr>[^/\[\]]+)$")


class XpathError(ValueError):
    """A query parameter that is not an xpath XNAT would accept."""


def split_root(key: str, xsi_types: tuple[str, ...]) -> str:
    """Strip the leading ``xsi:type/`` from a key, if it names one of the object's types."""
    for xsi in xsi_types:
        if key.startswith(f"{xsi}/"):
            return key[len(xsi) + 1 :]
    if re.match(r"^[a-zA-Z]+:[a-zA-Z0-9_]+/", key):
        raise XpathError(f"xpath {key!r} is rooted at a type this object does not have ({xsi_types[0]})")
    return key


def apply_xpaths(entity: Entity, params: Mapping[str, str], xsi_types: tuple[str, ...]) -> None:
    """Set every non-control query parameter on ``entity``.

    Raises:
        XpathError: a key rooted at another type or with an unreadable selector.
    """
    for key, value in params.items():
        if key in CONTROL_PARAMS:
            continue
        path = split_root(key, xsi_types)
        if path in SERVER_FIELDS:
            continue
        match = _SELECTOR.match(path)
        if match is None:
            _set_flat(entity.data_fields, path, value)
        elif match["selector"].startswith("@xsi:type="):
            _set_nested(entity, match["path"], match["selector"].split("=", 1)[1], match["attr"], value)
        else:
            _set_list_entry(entity, match["path"], match["selector"], match["attr"], value)


def _set_flat(fields: dict[str, str], name: str, value: str) -> None:
    if value == "NULL":
        fields.pop(name, None)
    else:
        fields[name] = value


def _set_nested(entity: Entity, path: str, xsi_type: str, attr: str, value: str) -> None:
    child = entity.nested.setdefault(path, ListChild(xsi_type=xsi_type, data_fields={}))
    _set_flat(child.data_fields, attr, value)


def _set_list_entry(entity: Entity, path: str, selector: str, attr: str, value: str) -> None:
    entries = entity.lists.setdefault(path, [])
    if selector.isdigit():
        index = int(selector) - 1
        while len(entries) <= index:
            entries.append(ListChild(xsi_type=_entry_type(entity, path), data_fields={}))
        entry = entries[index]
    else:
        if "=" not in selector:
            raise XpathError(f"selector [{selector}] in {path!r} is neither an index nor key=value")
        key, wanted = selector.split("=", 1)
        # XNAT stores custom variable names in lower case; lookups ignore case for the same reason.
        if path == "fields/field" and key == "name":
            wanted = wanted.lower()
        found = [e for e in entries if e.data_fields.get(key) == wanted]
        if found:
            entry = found[0]
        else:
            if value == "NULL":
                return
            entry = ListChild(xsi_type=_entry_type(entity, path), data_fields={key: wanted})
            entries.append(entry)
    _set_flat(entry.data_fields, attr, value)
    if path == "fields/field" and "field" not in entry.data_fields:
        entries.remove(entry)


def _entry_type(entity: Entity, path: str) -> str:
    if path == "fields/field":
        return (
            f"{entity.xsi_type}_field"
            if not entity.xsi_type.endswith("SessionData")
            else "xnat:experimentData_field"
        )
    if path == "parameters/addParam":
        return "xnat:addField"
    return f"{entity.xsi_type}_{path.rsplit('/', 1)[-1]}"
