"""The S3 image store: instance objects in a bucket of any S3-compatible service, written once.

Works with AWS S3, MinIO, Ceph RGW and SeaweedFS (tested against SeaweedFS). Keys are the node's
object keys under ``prefix``. Writes are create-if-absent: ``If-None-Match: *`` on PutObject and on
CompleteMultipartUpload, so of two workers writing one key exactly one succeeds and the other gets
412. For a service that refuses conditional writes, ``conditional_writes=false`` falls back to
HEAD-then-PUT, which leaves a window where two workers can both write; the node's index still keeps
one row, but the object may then hold the later bytes. Use it only with one worker.

Objects stream both ways: files above ``multipart_threshold`` go up in parts of ``part_size`` (one
part in memory at a time), and reads are ranged GETs behind a seekable file object, so neither a
put nor a read ever holds a whole instance. Credentials come from the settings, an AWS-style
credentials file or boto3's own chain, and are never logged.
"""

from __future__ import annotations

import io
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from eucaim.errors import ConfigError, NotFound, TransientError
from eucaim.node.store.config import S3StoreSettings
from eucaim.node.store.write_once import holds_same_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION = {"412", "PreconditionFailed"}
# 409 ConditionalRequestConflict: another conditional write to the key is in flight; retry.
_IN_FLIGHT = {"409", "ConditionalRequestConflict", "OperationAborted"}
_STALE_UPLOAD = timedelta(hours=24)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store:
    """Store objects in ``bucket`` under ``prefix``; see the module docstring for the rules."""

    def __init__(self, settings: S3StoreSettings, *, client: Any = None) -> None:
        if not settings.bucket:
            raise ConfigError(
                "the S3 image store needs a bucket", hint="set EUCAIM_NODE_S3_BUCKET (and the endpoint)"
            )
        self.bucket = settings.bucket
        self.prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self.settings = settings
        self.client = client if client is not None else _make_client(settings)

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self.settings.endpoint_url!r}, bucket={self.bucket!r})"

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"store key {key!r} leaves the store's prefix")
        return self.prefix + key

    # -- writing ---------------------------------------------------------------------------------

    def put_file(self, key: str, source: Path) -> None:
        """Upload ``source`` under ``key``, replacing any object there (migrations, repairs)."""
        self._upload(key, source, conditional=False)
        source.unlink(missing_ok=True)

    def put_new(self, key: str, source: Path, *, sha256: str) -> bool:
        """Write once; on 412 compare the object already there with ``source``."""
        size = source.stat().st_size
        taken = self.settings.conditional_writes is False and self.exists(key)
        written = not taken and self._upload(key, source, conditional=self.settings.conditional_writes)
        if not written and not holds_same_bytes(self, key, sha256=sha256, size=size):
            return False
        source.unlink(missing_ok=True)
        return True

    def _upload(self, key: str, source: Path, *, conditional: bool) -> bool:
        """Upload; return False when a conditional write found the key taken (412)."""
        extra: dict[str, str] = {"IfNoneMatch": "*"} if conditional else {}
        size = source.stat().st_size
        try:
            if size <= self.settings.multipart_threshold:
                with source.open("rb") as body:
                    self.client.put_object(
                        Bucket=self.bucket, Key=self._key(key), Body=body, ContentLength=size, **extra
                    )
            else:
                self._multipart(key, source, extra)
        except ClientError as exc:
            if conditional and _code(exc) in _PRECONDITION:
                return False
            if _code(exc) in _IN_FLIGHT:
                raise TransientError(f"another write to {key} was in flight; retry") from None
            raise _transient("write", key, exc) from None
        except BotoCoreError as exc:
            raise _transient("write", key, exc) from None
        logger.debug("stored object %s (%d bytes)", key, size)
        return True

    def _multipart(self, key: str, source: Path, extra: dict[str, str]) -> None:
        full_key = self._key(key)
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full_key)["UploadId"]
        try:
            parts = []
            with source.open("rb") as f:
                number = 1
                # One part in memory at a time: part_size bytes, never the whole object.
                while chunk := f.read(self.settings.part_size):
                    etag = self.client.upload_part(
                        Bucket=self.bucket, Key=full_key, UploadId=upload_id, PartNumber=number, Body=chunk
                    )["ETag"]
                    parts.append({"PartNumber": number, "ETag": etag})
                    number += 1
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **extra,
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except (ClientError, BotoCoreError):
                pass  # remove_leftovers aborts it later
            raise

    # -- reading ---------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """Return a seekable reader that fetches the object with ranged GETs as it is read."""
        size = self.size(key)
        raw = _RangedObject(self.client, self.bucket, self._key(key), size)
        return io.BufferedReader(raw, buffer_size=256 * 1024)  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        """Return True when HEAD finds the object."""
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        """Return the object's size (HEAD)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"object {key} is missing from the image store") from None
            raise _transient("read", key, exc) from None
        except BotoCoreError as exc:
            raise _transient("read", key, exc) from None
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete the object (absent objects are fine: S3 answers 204 either way)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise _transient("delete", key, exc) from None

    # -- upkeep ----------------------------------------------------------------------------------

    def remove_leftovers(self, *, now: float, max_age_s: float = _STALE_UPLOAD.total_seconds()) -> int:
        """Abort multipart uploads under the prefix that a killed worker left (older than max_age_s).

        A killed single PUT leaves nothing: S3 creates an object only once all of it arrived.
        """
        cutoff = datetime.fromtimestamp(now, UTC) - timedelta(seconds=max_age_s)
        removed = 0
        try:
            for upload in self._uploads():
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        except (ClientError, BotoCoreError) as exc:
            logger.warning("could not list unfinished uploads in bucket %s: %s", self.bucket, exc)
        if removed:
            logger.info("aborted %d unfinished multipart upload(s) of interrupted workers", removed)
        return removed

    def _uploads(self) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            yield from page.get("Uploads", [])

    def check(self) -> None:
        """Write and delete a probe object, so a missing bucket or read-only key shows as unhealthy."""
        probe = self._key(f".health/{uuid.uuid4().hex}")
        try:
            # HEAD first: some gateways create a missing bucket on a PUT by an admin identity.
            self.client.head_bucket(Bucket=self.bucket)
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(f"S3 bucket {self.bucket} is not writable: {_reason(exc)}") from None


class _RangedObject(io.RawIOBase):
    """A read-only, seekable view of one S3 object: one ranged GET per run of sequential reads."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._pos = 0
        self._body: Any = None  # streaming body positioned at self._pos, opened lazily

    @property
    def name(self) -> str:
        """The object's key (pydicom and others name their source by it)."""
        return self._key

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop_body()
            self._pos = target
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if self._body is None:
            try:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{self._size - 1}"
                )
            except (ClientError, BotoCoreError) as exc:
                raise _transient("read", self._key, exc) from None
            self._body = response["Body"]
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        if not data:
            raise TransientError(f"object {self._key} ended early at byte {self._pos} of {self._size}")
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


def _make_client(settings: S3StoreSettings) -> Any:
    core = botocore.session.get_session()
    if settings.credentials_file is not None:
        # Set before anything reads the configuration, which botocore caches on first use: then
        # the file named here is read instead of ~/.aws/credentials, with the chosen profile.
        core.set_config_variable("credentials_file", str(settings.credentials_file))
        core.set_config_variable("profile", settings.profile)
    session = boto3.session.Session(botocore_session=core)
    keys: dict[str, str] = {}
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        keys = {
            "aws_access_key_id": settings.access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.secret_access_key.get_secret_value(),
        }
    config = Config(
        region_name=settings.region,
        s3={"addressing_style": settings.addressing_style},
        retries={"max_attempts": 4, "mode": "standard"},
        # Checksums only where S3 requires them: several S3-compatible stores refuse the
        # aws-chunked trailing checksums newer boto3 sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config, **keys)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return f"{_code(exc)} ({exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode', '?')})"
    return type(exc).__name__


def _transient(action: str, key: str, exc: Exception) -> TransientError:
    return TransientError(f"could not {action} object {key} in the S3 store: {_reason(exc)}")
