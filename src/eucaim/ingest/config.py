"""The workspace configuration file (``config.toml``): which node, which biobank, how to transfer."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, Field, ValidationError, field_validator

from eucaim.errors import ConfigError

CONFIG_NAME = "config.toml"


class NodeConfig(BaseModel):
    """Where data goes."""

    kind: Literal["eucaim", "xnat"] = "eucaim"
    url: str
    biobank: str = Field(description="Biobank code on a EUCAIM node (project ID on XNAT)")
    token_file: str = Field("token", description="File holding the API token, relative to the workspace")
    ca_bundle: str | None = Field(None, description="PEM file of a CA to trust in addition to the system's")
    timeout_s: float = 120.0
    username: str | None = Field(
        None,
        description="XNAT user name; the token file then holds the password. Unset on XNAT: the token "
        "file holds an alias token as ALIAS:SECRET",
    )
    xnat_dest: Literal["archive", "prearchive"] | None = Field(
        None,
        description="XNAT import destination: the archive (default), or the project's prearchive",
    )

    @property
    def project(self) -> str:
        """The XNAT project ID (stored as ``biobank``: one field names where data goes on either kind)."""
        return self.biobank

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("node URL must start with https:// (or http:// on loopback for tests)")
        return value.rstrip("/")


class DeidConfig(BaseModel):
    """How instances are de-identified on the way out."""

    profile: str = "eucaim"
    pseudonym_format: str = "EUCAIM-{hex}"


class TransferConfig(BaseModel):
    """How hard the transfer leans on the network and the CPU."""

    batch_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Upper bound of one STOW request")
    concurrency: int = Field(2, ge=1, le=16, description="STOW requests in flight at once")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    max_attempts: int = Field(8, ge=1, description="Attempts per batch on transient errors")
    keep_outbox: bool = Field(False, description="Keep de-identified copies after verification")


class PacsSettings(BaseModel):
    """The hospital PACS this workstation queries and retrieves from (optional)."""

    host: str
    port: int = Field(ge=1, le=65535)
    called_aet: str = Field(max_length=16, description="The PACS's AE title")
    calling_aet: str = Field("EUCAIM", max_length=16, description="Our AE title, registered on the PACS")
    receiver_port: int | None = Field(
        None, ge=1, le=65535, description="Port of our C-STORE receiver, for C-MOVE"
    )
    timeout_s: float = 30.0


class WorkspaceConfig(BaseModel):
    node: NodeConfig
    deid: DeidConfig = DeidConfig()
    transfer: TransferConfig = TransferConfig()
    pacs: PacsSettings | None = None


def load_config(workspace: Path) -> WorkspaceConfig:
    """Read and validate ``config.toml``; errors name the file and the field."""
    path = workspace / CONFIG_NAME
    if not path.exists():
        raise ConfigError(
            f"{workspace} is not an eucaim-ingest workspace (no {CONFIG_NAME})",
            hint="run `eucaim-ingest init --node URL --biobank CODE --token-file F` first",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return WorkspaceConfig.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path} is invalid: {problems}") from exc


def save_config(workspace: Path, config: WorkspaceConfig) -> Path:
    path = workspace / CONFIG_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(config.model_dump(exclude_none=True)), encoding="utf-8")
    os.replace(tmp, path)
    return path
