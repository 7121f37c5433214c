"""De-identification profiles: named, versioned TOML files naming options and overrides.

A profile file looks like::

    name = "my-site"
    version = "3"
    base = "eucaim"                      # optional: start from a built-in or another file
    burned_in = "quarantine"             # or "allow" (instances at burned-in-text risk)
    options = ["retain-device-identity"] # PS3.15 options, added to the base's
    [overrides]                          # selector = action; later files win
    StationName = "keep"                 # keyword
    "(0008,1010)" = "keep"               # tag
    "vr:PN" = "remove"                   # every element of a VR
    "private:SIEMENS CSA HEADER,0029,10" = "remove"   # creator, group, offset
    "path:ReferencedSeriesSequence/SeriesInstanceUID" = "uid"

Loading validates everything (options, selectors, actions) so a bad profile fails before any
file is touched. ``Profile.sha256`` hashes the effective rules, so an audit record names exactly
the rules that were applied.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eucaim.deid.actions import Action, parse_action
from eucaim.deid.selectors import parse_selector
from eucaim.errors import ProfileError

DEFAULT_PROFILE = "eucaim"


@dataclass(frozen=True)
class Option:
    """One PS3.15 Annex E option: its table column, CID 7050 code and meaning."""

    name: str
    code: str
    meaning: str
    supported: bool = True


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("clean-pixel-data", "113101", "Clean Pixel Data Option"),
        Option(
            "clean-recognizable-visual-features",
            "113102",
            "Clean Recognizable Visual Features Option",
            supported=False,
        ),
        Option("clean-graphics", "113103", "Clean Graphics Option"),
        Option("clean-structured-content", "113104", "Clean Structured Content Option"),
        Option("clean-descriptors", "113105", "Clean Descriptors Option"),
        Option(
            "retain-long-full-dates",
            "113106",
            "Retain Longitudinal Temporal Information Full Dates Option",
        ),
        Option(
            "retain-long-modified-dates",
            "113107",
            "Retain Longitudinal Temporal Information Modified Dates Option",
        ),
        Option("retain-patient-characteristics", "113108", "Retain Patient Characteristics Option"),
        Option("retain-device-identity", "113109", "Retain Device Identity Option"),
        Option("retain-uids", "113110", "Retain UIDs Option"),
        Option("retain-safe-private", "113111", "Retain Safe Private Option"),
        Option("retain-institution-identity", "113112", "Retain Institution Identity Option"),
    )
}
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
BUILTIN_NAMES = ("ps315-basic", "eucaim")
BURNED_IN_POLICIES = ("quarantine", "allow")


@dataclass(frozen=True)
class Profile:
    """The effective rules of one profile, after its bases are merged."""

    name: str
    version: str
    sha256: str
    options: tuple[str, ...]
    overrides: tuple[tuple[str, Action], ...]
    description: str = ""
    source: str = ""
    burned_in: str = "quarantine"  # or "allow": what happens to instances at burned-in-text risk

    @property
    def date_mode(self) -> str:
        """``shift``, ``keep`` or ``remove``: what happens to dates no rule names."""
        if "retain-long-modified-dates" in self.options:
            return "shift"
        if "retain-long-full-dates" in self.options:
            return "keep"
        return "remove"


def _data_bytes(name: str) -> bytes:
    return resources.files("eucaim.deid").joinpath("data", name).read_bytes()


def _builtin_text(name: str) -> str:
    return _data_bytes(f"profiles/{name}.toml").decode("utf-8")


def _parse(text: str, where: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {where} is not valid TOML: {exc}", hint="fix the file") from exc


def _raw(name_or_path: str, seen: tuple[str, ...]) -> tuple[dict[str, object], str]:
    if name_or_path in seen:
        raise ProfileError(f"profile {name_or_path} names itself as a base (cycle: {' -> '.join(seen)})")
    if name_or_path in BUILTIN_NAMES:
        return _parse(_builtin_text(name_or_path), name_or_path), f"builtin:{name_or_path}"
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(BUILTIN_NAMES)
        raise ProfileError(
            f"profile {name_or_path!r} is neither a built-in profile nor a file",
            hint=f"use one of {known} or the path of a .toml profile",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile file {path}: {exc}") from exc
    return _parse(text, str(path)), str(path)


def _merge(name_or_path: str, seen: tuple[str, ...]) -> tuple[dict[str, object], list[str], dict[str, str]]:
    raw, where = _raw(name_or_path, seen)
    options: list[str] = []
    overrides: dict[str, str] = {}
    base = raw.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise ProfileError(f"profile {where}: 'base' must be a profile name or path")
        base_raw, options, overrides = _merge(base, (*seen, name_or_path))
        if "burned_in" not in raw and "burned_in" in base_raw:
            raw["burned_in"] = base_raw["burned_in"]
    own_options = raw.get("options", [])
    if not isinstance(own_options, list) or not all(isinstance(o, str) for o in own_options):
        raise ProfileError(f"profile {where}: 'options' must be a list of option names")
    for opt in own_options:
        if opt not in OPTIONS:
            raise ProfileError(
                f"profile {where}: unknown option {opt!r}", hint=f"known options: {', '.join(OPTIONS)}"
            )
        if not OPTIONS[opt].supported:
            raise ProfileError(f"profile {where}: option {opt!r} is not supported by this version")
        if opt not in options:
            options.append(opt)
    own_overrides = raw.get("overrides", {})
    if not isinstance(own_overrides, dict):
        raise ProfileError(f"profile {where}: [overrides] must be a table of selector = action")
    for selector, action in own_overrides.items():
        if not isinstance(action, str):
            raise ProfileError(f"profile {where}: override {selector!r} must name an action")
        overrides[selector] = action
    return {**raw, "_where": where}, options, overrides


def load_profile(name_or_path: str) -> Profile:
    """Load a built-in profile by name (``ps315-basic``, ``eucaim``) or a TOML file by path.

    Raises:
        ProfileError: unknown name, unreadable file, bad TOML, unknown option, selector or action.
    """
    raw, options, overrides = _merge(name_or_path, ())
    where = str(raw["_where"])
    name, version = raw.get("name"), raw.get("version")
    if not isinstance(name, str) or not name or not isinstance(version, str | int) or version == "":
        raise ProfileError(
            f"profile {where} must set name and version", hint='e.g. name = "site", version = "1"'
        )
    if "retain-long-full-dates" in options and "retain-long-modified-dates" in options:
        raise ProfileError(
            f"profile {where}: retain-long-full-dates and retain-long-modified-dates exclude each other",
            hint="keep one of them",
        )
    checked: list[tuple[str, Action]] = []
    for selector, action_name in overrides.items():
        try:
            parse_selector(selector)
            checked.append((selector, parse_action(action_name)))
        except ValueError as exc:
            raise ProfileError(f"profile {where}: override {selector!r}: {exc}") from exc
    burned_in = raw.get("burned_in", "quarantine")
    if burned_in not in BURNED_IN_POLICIES:
        raise ProfileError(
            f"profile {where}: burned_in must be one of {', '.join(BURNED_IN_POLICIES)}",
            hint="quarantine is the safe default; allow only for data checked by other means",
        )
    ordered = tuple(o for o in OPTIONS if o in options)
    digest = hashlib.sha256()
    canonical = {
        "name": name,
        "version": str(version),
        "options": ordered,
        "overrides": checked,
        "burned_in": burned_in,
    }
    digest.update(json.dumps(canonical, sort_keys=True).encode())
    digest.update(_data_bytes("ps315_table.json"))
    digest.update(_data_bytes("allowlist.toml"))
    digest.update(_data_bytes("safe_private.json"))
    description = raw.get("description", "")
    return Profile(
        name=name,
        version=str(version),
        sha256=digest.hexdigest(),
        options=ordered,
        overrides=tuple(checked),
        description=description if isinstance(description, str) else "",
        source=where,
        burned_in=str(burned_in),
    )


def list_profiles() -> list[Profile]:
    """The built-in profiles."""
    return [load_profile(name) for name in BUILTIN_NAMES]
