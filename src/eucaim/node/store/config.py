"""Settings of the remote image stores: S3-compatible buckets (``EUCAIM_NODE_S3_*``) and DICOMweb PACS.

=======================  ==========================================  ======================================
setting                  environment variable                        meaning (default)
=======================  ==========================================  ======================================
endpoint_url             EUCAIM_NODE_S3_ENDPOINT_URL                 S3 endpoint (unset: AWS for the region)
bucket                   EUCAIM_NODE_S3_BUCKET                       bucket (required for ``store=s3``)
prefix                   EUCAIM_NODE_S3_PREFIX                       key prefix inside the bucket (``""``)
region                   EUCAIM_NODE_S3_REGION                       signing region (``us-east-1``)
access_key_id            EUCAIM_NODE_S3_ACCESS_KEY_ID                credentials; unset: boto3's own chain
secret_access_key        EUCAIM_NODE_S3_SECRET_ACCESS_KEY            (AWS_* variables, instance roles, …)
credentials_file         EUCAIM_NODE_S3_CREDENTIALS_FILE             an AWS-style credentials file, read with
profile                  EUCAIM_NODE_S3_PROFILE                      ``profile`` (``default``)
addressing_style         EUCAIM_NODE_S3_ADDRESSING_STYLE             ``path`` (MinIO, Ceph, SeaweedFS) or
                                                                     ``virtual`` (AWS)
multipart_threshold      EUCAIM_NODE_S3_MULTIPART_THRESHOLD          objects above it go in parts (64 MiB)
part_size                EUCAIM_NODE_S3_PART_SIZE                    size of one part (16 MiB; ≥ 5 MiB)
conditional_writes       EUCAIM_NODE_S3_CONDITIONAL_WRITES           send ``If-None-Match: *`` (true); false
                                                                     for stores refusing it: HEAD then PUT
url                      EUCAIM_NODE_DICOMWEB_STORE_URL              DICOMweb root of the PACS
username / password      EUCAIM_NODE_DICOMWEB_STORE_USERNAME/…       HTTP Basic credentials of the PACS
orthanc_url              EUCAIM_NODE_DICOMWEB_STORE_ORTHANC_URL      Orthanc REST root, to delete objects
                                                                     (DICOMweb itself has no delete)
timeout_s                EUCAIM_NODE_DICOMWEB_STORE_TIMEOUT_S        per-request timeout (120)
=======================  ==========================================  ======================================

Secrets are ``SecretStr``: they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class S3StoreSettings(BaseSettings):
    """Where and how the S3 image store writes."""

    model_config = SettingsConfigDict(env_prefix="EUCAIM_NODE_S3_", extra="ignore", populate_by_name=True)

    endpoint_url: str | None = None
    bucket: str | None = None
    prefix: str = ""
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    credentials_file: Path | None = None
    profile: str = "default"
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    multipart_threshold: int = Field(default=64 * MIB, ge=5 * MIB)
    part_size: int = Field(default=16 * MIB, ge=5 * MIB)
    conditional_writes: bool = True


class DicomwebStoreSettings(BaseSettings):
    """Which PACS the DICOMweb image store writes to."""

    model_config = SettingsConfigDict(
        env_prefix="EUCAIM_NODE_DICOMWEB_STORE_", extra="ignore", populate_by_name=True
    )

    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    orthanc_url: str | None = None
    timeout_s: float = Field(default=120.0, gt=0)
