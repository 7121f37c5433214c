"""The node's optional TOML configuration file, read beneath the environment.

Precedence, highest first: arguments (``--data``), ``EUCAIM_NODE_*`` variables, the file named by
``EUCAIM_NODE_CONFIG`` (``eucaim-node --config node.toml`` sets it), then defaults. Keys are the
setting names of :mod:`eucaim.node.settings` (``database_url = "..."``, a ``[oidc]`` table).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from eucaim.errors import ConfigError

CONFIG_ENV = "EUCAIM_NODE_CONFIG"


def read_config_file(path: Path) -> dict[str, Any]:
    """Return the file's settings.

    Raises:
        ConfigError: the file is missing or not valid TOML.
    """
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist", hint=f"fix {CONFIG_ENV}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


class TomlFileSource(PydanticBaseSettingsSource):
    """A pydantic-settings source for the file ``EUCAIM_NODE_CONFIG`` names (none: no values)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        name = os.environ.get(CONFIG_ENV)
        self._values = read_config_file(Path(name)) if name else {}
        if "data" in self._values and "data_dir" not in self._values:
            self._values["data_dir"] = self._values.pop("data")

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)
