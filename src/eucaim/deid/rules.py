"""The compiled rule set of a profile: one decision per element (tag, VR, sequence path).

Precedence, most specific first: path override, private override, tag/keyword override, VR
override, Table E.1-1 with the profile's options, overlays/curves/group lengths, defaults by VR
(UIDs remapped, dates by the profile's date mode), the curated allow-list, and finally removal
(default-deny).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import resources

from pydicom import datadict
from pydicom.datadict import dictionary_keyword, tag_for_keyword

from eucaim.deid.actions import Action, strictest
from eucaim.deid.profile import Profile
from eucaim.deid.selectors import parse_selector

_CODE = {"K": Action.KEEP, "X": Action.REMOVE, "Z": Action.EMPTY, "D": Action.DUMMY, "U": Action.UID}
# What "C" (clean) means depends on the option that says it.
_CLEAN_BY_OPTION = {
    "retain-long-modified-dates": Action.SHIFT,
    "retain-device-identity": Action.DUMMY,
}


def _exempt_uid_tags() -> frozenset[int]:
    """UI attributes whose values name a class, syntax or coding scheme, never an instance."""
    names = {"TransferSyntaxUID", "CodingSchemeUID", "ContextUID", "MappingResourceUID"}
    entries = datadict.DicomDictionary.items()  # type: ignore[attr-defined]
    return frozenset(
        tag
        for tag, entry in entries
        if entry[0] == "UI" and ("ClassUID" in entry[4] or entry[4] in names or "SOPClasses" in entry[4])
    )


EXEMPT_UID_TAGS = _exempt_uid_tags()


@dataclass(frozen=True)
class TableRule:
    """One row of the generated Table E.1-1 data."""

    tag: int
    keyword: str
    name: str
    basic: str
    action: str
    options: dict[str, str]


def _load_json(name: str) -> dict[str, object]:
    data = resources.files("eucaim.deid").joinpath("data", name).read_text(encoding="utf-8")
    result: dict[str, object] = json.loads(data)
    return result


def load_table() -> list[TableRule]:
    """The PS3.15 Table E.1-1 rows shipped in the package (see tools/gen_ps315_table.py)."""
    rows = _load_json("ps315_table.json")["rows"]
    assert isinstance(rows, list)
    return [
        TableRule(int(r["tag"], 16), r["keyword"], r["name"], r["basic"], r["action"], dict(r["options"]))
        for r in rows
    ]


def load_safe_private() -> dict[tuple[str, int, int], str]:
    """Creator-qualified safe private elements ``(creator, group, offset) -> VR`` (CTP's dictionary)."""
    elements = _load_json("safe_private.json")["elements"]
    assert isinstance(elements, list)
    return {(str(c), int(g, 16), int(o, 16)): str(vr) for c, g, o, vr in elements}


_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT", "UR"})


def _load_allowlist() -> tuple[frozenset[int], frozenset[str], dict[int, Action]]:
    text = resources.files("eucaim.deid").joinpath("data", "allowlist.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    groups = frozenset(int(g, 16) for g in raw["groups"])
    keywords: dict[int, Action] = {}
    for keyword, action in raw["keywords"].items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"allowlist.toml names unknown keyword {keyword}")
        keywords[tag] = Action(action)
    return groups, frozenset(raw["free_text_vrs"]), keywords


def table_action(rule: TableRule, options: tuple[str, ...]) -> Action:
    """The action of one table row under ``options`` (options override the basic profile)."""
    by_option = []
    for option, code in rule.options.items():
        if option not in options or option == "retain-safe-private":
            continue
        if code == "C":
            by_option.append(_CLEAN_BY_OPTION.get(option, Action.CLEAN))
        else:
            by_option.append(_CODE[code])
    if by_option:
        return strictest(by_option)
    return _CODE[rule.action]


class RuleSet:
    """Decides the action for each element of a dataset under one profile. Picklable."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.date_mode = profile.date_mode
        self.retain_safe_private = "retain-safe-private" in profile.options
        self.retain_uids = "retain-uids" in profile.options
        table = load_table()
        self._table = {r.tag: table_action(r, profile.options) for r in table}
        self._basic = {r.tag: table_action(r, ()) for r in table}
        self._groups, self._free_text_vrs, self._allowed = _load_allowlist()
        self._by_tag: dict[int, Action] = {}
        self._by_vr: dict[str, Action] = {}
        self._by_path: dict[tuple[int, ...], Action] = {}
        self._by_private: dict[tuple[str, int, int], Action] = {}
        for text, action in profile.overrides:
            sel = parse_selector(text)
            if sel.kind == "tag":
                self._by_tag[sel.tag] = action
            elif sel.kind == "vr":
                self._by_vr[sel.vr] = action
            elif sel.kind == "path":
                self._by_path[sel.path] = action
            else:
                self._by_private[(sel.creator, sel.group, sel.offset)] = action
        self._safe_private = load_safe_private() if self.retain_safe_private else {}
        self._cache: dict[tuple[int, str], Action] = {}

    def decide(self, tag: int, vr: str, path: tuple[int, ...] = ()) -> Action:
        """The action for a public element ``tag`` of ``vr`` inside the sequences ``path``."""
        if self._by_path:
            by_path = self._by_path.get((*path, tag))
            if by_path is not None:
                return by_path
        key = (tag, vr)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._decide(tag, vr)
        return cached

    def decide_private(self, creator: str, group: int, offset: int, vr: str) -> Action:
        """The action for a private element: removed unless an override or the safe list keeps it."""
        override = self._by_private.get((creator, group, offset))
        if override is not None:
            return override
        safe_vr = self._safe_private.get((creator, group, offset))
        if safe_vr is None:
            return Action.REMOVE
        if vr == "UN":
            # Undecoded bytes: numbers are safe as they are, text cannot be scrubbed.
            return (
                Action.REMOVE if safe_vr in _TEXT_VRS or safe_vr in ("PN", "DA", "DT", "UI") else Action.KEEP
            )
        if vr in ("PN", "SQ"):
            return Action.REMOVE
        if vr in _TEXT_VRS:
            return Action.CLEAN  # "safe" text still gets the dataset's identifiers scrubbed
        return self._default_by_vr(vr) or Action.KEEP

    def _decide(self, tag: int, vr: str) -> Action:
        override = self._by_tag.get(tag)
        if override is not None:
            return override
        if vr in self._by_vr:
            return self._by_vr[vr]
        listed = self._table.get(tag)
        if listed is not None:
            return listed
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            # Group lengths are retired; curves and overlays can carry burned-in identity.
            return Action.REMOVE
        if vr == "UI" and tag in EXEMPT_UID_TAGS:
            return Action.KEEP
        by_vr = self._default_by_vr(vr)
        if by_vr is not None:
            return by_vr
        allowed = self._allowed.get(tag)
        if allowed is not None:
            return allowed
        if group in self._groups and vr not in self._free_text_vrs and dictionary_keyword_or_none(tag):
            return Action.KEEP
        return Action.REMOVE

    def _default_by_vr(self, vr: str) -> Action | None:
        """UIDs are remapped and dates follow the date mode wherever they occur."""
        if vr == "UI":
            # Retain UIDs keeps every UID, listed or not: remapping only some would break
            # references between the kept ones and the others.
            return Action.KEEP if self.retain_uids else Action.UID
        if vr in ("DA", "DT", "TM"):
            return {"shift": Action.SHIFT, "keep": Action.KEEP}.get(self.date_mode, Action.REMOVE)
        return None

    def effective_rules(self) -> list[RuleRow]:
        """Every element the profile names, with its action and where the rule comes from.

        This is what ``eucaim-ingest profile show NAME`` prints. Elements named nowhere are
        removed (default-deny), except whole allow-listed groups, UIDs (remapped) and dates
        (per ``date_mode``); ``default_rules`` describes those.
        """
        rows: list[RuleRow] = []
        tags = sorted({*self._table, *self._allowed, *self._by_tag})
        for tag in tags:
            if tag in self._by_tag:
                source = "profile override"
            elif tag in self._table:
                source = "PS3.15 Table E.1-1" + (
                    " + options" if self._table[tag] is not self._basic[tag] else ""
                )
            else:
                source = "image allow-list"
            rows.append(
                RuleRow(
                    tag=f"({tag >> 16:04X},{tag & 0xFFFF:04X})",
                    keyword=dictionary_keyword_or_none(tag) or "",
                    action=self._decide(tag, ""),
                    source=source,
                )
            )
        for text, action in self.profile.overrides:
            if text.startswith(("vr:", "private:", "path:")):
                rows.append(RuleRow(tag=text, keyword="", action=action, source="profile override"))
        return rows

    def default_rules(self) -> list[tuple[str, str]]:
        """What happens to elements no rule names, in words, in the order it is decided."""
        dates = {"shift": "shifted by the patient's day offset", "keep": "kept"}.get(
            self.date_mode, "removed"
        )
        private = (
            "kept if in the creator-qualified safe list (CTP), else removed"
            if self.retain_safe_private
            else "removed, with their creators"
        )
        return [
            ("curves (50xx), overlays (60xx), group lengths", "removed"),
            ("private elements", private),
            ("UI (UIDs)", "remapped to 2.25.<keyed HMAC>; class, syntax and coding-scheme UIDs kept"),
            ("DA, DT", dates),
            ("TM", "kept" if self.date_mode != "remove" else "removed"),
            (
                "allow-listed groups " + ", ".join(f"{g:04X}" for g in sorted(self._groups)),
                "kept, except free text (LT, ST, UT, UC), PN and UN, which are removed",
            ),
            ("anything else", "removed (default-deny)"),
        ]


@dataclass(frozen=True)
class RuleRow:
    """One line of ``profile show``."""

    tag: str
    keyword: str
    action: Action
    source: str


def dictionary_keyword_or_none(tag: int) -> str | None:
    """The public keyword of ``tag``, or None for tags the dictionary does not know."""
    try:
        return str(dictionary_keyword(tag)) or None
    except KeyError:
        return None
