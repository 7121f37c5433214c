"""Build the image store a node's settings name: ``filesystem``, ``s3`` or ``dicomweb``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from eucaim.errors import ConfigError
from eucaim.node.store.base import ImageStore
from eucaim.node.store.filesystem import FilesystemStore

if TYPE_CHECKING:
    from eucaim.node.settings import Settings

StoreKind = Literal["filesystem", "s3", "dicomweb"]
# Short names the CLI accepts (``store migrate --from fs --to s3``).
ALIASES: dict[str, StoreKind] = {
    "fs": "filesystem",
    "filesystem": "filesystem",
    "s3": "s3",
    "dicomweb": "dicomweb",
}


def store_kind(name: str) -> StoreKind:
    """Return the store kind a name stands for.

    Raises:
        ConfigError: the name is not a store kind.
    """
    try:
        return ALIASES[name.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown image store {name!r}", hint="choose one of fs (filesystem), s3, dicomweb"
        ) from None


def build_store(settings: Settings, kind: StoreKind | None = None) -> ImageStore:
    """Return the store ``kind`` (default: the configured one) set up from ``settings``.

    Raises:
        ConfigError: the chosen store lacks a required setting (bucket, PACS URL).
    """
    kind = kind or settings.store
    if kind == "s3":
        from eucaim.node.store.s3 import S3Store

        return S3Store(settings.s3)
    if kind == "dicomweb":
        from eucaim.node.store.dicomweb import DicomwebStore

        return DicomwebStore(settings.dicomweb_store)
    return FilesystemStore(settings.resolved_store_dir)
