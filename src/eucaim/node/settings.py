"""The node's settings, read once at the entry point from arguments and ``EUCAIM_NODE_*`` variables.

==================  ===========================  ==============================================
setting             environment variable         meaning (default)
==================  ===========================  ==============================================
data_dir            EUCAIM_NODE_DATA             folder for the SQLite DB, image store and temp
                                                 files (``./eucaim-node-data``)
database_url        EUCAIM_NODE_DATABASE_URL     SQLAlchemy URL (``sqlite:///<data>/node.db``);
                                                 PostgreSQL: ``postgresql+psycopg://…``
store               EUCAIM_NODE_STORE            image store: ``filesystem``, ``s3`` or ``dicomweb``
                                                 (``filesystem``; see eucaim.node.store.config)
store_dir           EUCAIM_NODE_STORE_DIR        filesystem image store (``<data>/store``)
public_url          EUCAIM_NODE_PUBLIC_URL       base URL put in RetrieveURLs, when the node sits
                                                 behind a proxy (taken from each request)
token_ttl_days      EUCAIM_NODE_TOKEN_TTL_DAYS   lifetime of new API tokens in days (365)
max_request_bytes   EUCAIM_NODE_MAX_REQUEST_BYTES  largest STOW body accepted, in bytes (16 GiB);
                                                 a client should batch below it
suppression_        EUCAIM_NODE_SUPPRESSION_     the public catalogue shows counts below this as
threshold           THRESHOLD                    "<N" (5; 1 shows every count)
oidc                EUCAIM_NODE_OIDC_*           OIDC bearer tokens (see eucaim.node.oidc_settings)
metrics_token       EUCAIM_NODE_METRICS_TOKEN    bearer secret a Prometheus scraper sends to GET
                                                 /metrics (none: only admins' tokens)
jobs_stalled_       EUCAIM_NODE_JOBS_STALLED_    on PostgreSQL: a queue job whose worker sent no
after_s             AFTER_S                      heartbeat for this long is run again (30)
(file)              EUCAIM_NODE_CONFIG           TOML file beneath the environment
                                                 (eucaim.node.config_file)
==================  ===========================  ==============================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from eucaim.node.config_file import TomlFileSource
from eucaim.node.oidc_settings import OidcSettings
from eucaim.node.store.config import DicomwebStoreSettings, S3StoreSettings


class Settings(BaseSettings):
    """Validated configuration of one node process."""

    model_config = SettingsConfigDict(env_prefix="EUCAIM_NODE_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        default=Path("eucaim-node-data"), validation_alias=AliasChoices("data_dir", "EUCAIM_NODE_DATA")
    )
    database_url: str | None = None
    store: Literal["filesystem", "s3", "dicomweb"] = "filesystem"
    store_dir: Path | None = None
    s3: S3StoreSettings = Field(default_factory=S3StoreSettings)
    dicomweb_store: DicomwebStoreSettings = Field(default_factory=DicomwebStoreSettings)
    public_url: str | None = None
    token_ttl_days: int = Field(default=365, ge=1)
    max_request_bytes: int = Field(default=16 * 1024**3, ge=1024)
    suppression_threshold: int = Field(default=5, ge=1)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    metrics_token: SecretStr | None = None
    jobs_stalled_after_s: float = Field(default=30.0, ge=1.0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the EUCAIM_NODE_CONFIG file, then defaults."""
        return (init_settings, env_settings, TomlFileSource(settings_cls), file_secret_settings)

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'node.db').resolve()}"

    @property
    def resolved_store_dir(self) -> Path:
        """Return the filesystem image store's folder."""
        return self.store_dir if self.store_dir is not None else self.data_dir / "store"

    @property
    def tmp_dir(self) -> Path:
        """Return the folder for request spools; inside the data folder so renames stay atomic."""
        return self.data_dir / "tmp"

    @property
    def is_sqlite(self) -> bool:
        """Return True when the database is the embedded SQLite file (or any SQLite URL)."""
        return self.resolved_database_url.startswith("sqlite")
