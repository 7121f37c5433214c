"""Image stores of the node: the protocol, key rules and the filesystem implementation."""

from __future__ import annotations

from eucaim.node.store.base import ImageStore, is_valid_biobank_code, is_valid_uid, object_key
from eucaim.node.store.filesystem import FilesystemStore

__all__ = ["FilesystemStore", "ImageStore", "is_valid_biobank_code", "is_valid_uid", "object_key"]
