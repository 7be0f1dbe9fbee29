"""The fsspec backend: s3fs, adlfs, gcsfs (or any fsspec filesystem) move the bytes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from persist import _backend, _gcs
from persist._backend import (
    MULTIPART_FLOOR,
    BatchCopy,
    Entry,
    abort_s3_uploads,
    azure_metadata,
    own_filesystem,
)
from persist.options import AZURE_PROTOCOLS, GCS_PROTOCOLS, S3_PROTOCOLS

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from persist._plan import Plan

__all__ = ["FsspecBackend"]


class FsspecBackend:
    """Moves files through persist's own fsspec filesystem for a plan's protocol."""

    sep = "/"

    def __init__(self, plan: Plan, metadata: dict[str, str]) -> None:
        self._plan = plan
        self._protocol = plan.protocol
        self._metadata = metadata
        self._fs: AbstractFileSystem | None = None

    @property
    def fs(self) -> AbstractFileSystem:
        """The filesystem, built on first use (and cached per options, see ``build_filesystem``)."""
        if self._fs is None:
            self._fs = own_filesystem(self._plan)
        return self._fs

    async def upload_file(self, lpath: str, rpath: str, size: int | None, callback: Any) -> None:
        """One attempt at uploading one file, with the plan's put kwargs and the metadata."""
        if self._metadata and self._protocol in AZURE_PROTOCOLS:
            await self._azure_put(lpath, rpath, callback)
            return
        if self._protocol in GCS_PROTOCOLS:
            size = os.path.getsize(lpath) if size is None else size
            if _gcs.use_streamed_upload(self.fs, size, self._plan.put_kwargs):
                metadata = self._metadata_kwargs().get("metadata")
                await _gcs.streamed_upload(self.fs, lpath, rpath, size, metadata, callback)
                return
        kwargs = {**self._plan.put_kwargs, **self._metadata_kwargs()}
        if callback is not None:
            kwargs["callback"] = callback
        await self.fs._put_file(lpath, rpath, **kwargs)

    async def download_file(self, rpath: str, lpath: str, callback: Any) -> None:
        """One attempt at downloading one remote file to a new local file."""
        kwargs = {} if callback is None else {"callback": callback}
        if self._protocol in GCS_PROTOCOLS:
            await _gcs.download(self.fs, rpath, lpath, kwargs)
            return
        await self.fs._get_file(rpath, lpath, **kwargs)

    async def list_batches(
        self, root: str, sizes: bool, after: str | None
    ) -> AsyncIterator[list[tuple[str, int]]]:
        """(full name, size) of every file at or under ``root``, as one batch.

        fsspec's public listing calls return whole listings; their paging is private to each
        filesystem, so the files of a folder start once the listing is complete.
        """
        found = await self.fs._find(self.root_name(root), detail=True)
        files = [
            (name, int(info.get("size") or 0))
            for name, info in sorted(found.items())
            if info.get("type") == "file" and not name.endswith("/") and (after is None or name > after)
        ]
        del found
        for start in range(0, len(files), _backend.LIST_BATCH):
            yield files[start : start + _backend.LIST_BATCH]

    def root_name(self, root: str) -> str:
        """``root`` without protocol or trailing /, as the filesystem names it."""
        return str(self.fs._strip_protocol(root)).rstrip("/")

    async def exists(self, path: str) -> bool:
        """Whether an object or a non-empty prefix exists at ``path``."""
        return bool(await self.fs._exists(path))

    async def abort_unfinished(self, rpath: str, size: int) -> int:
        """Abort the S3 multipart uploads of ``rpath`` (s3fs does not on cancellation)."""
        if self._protocol not in S3_PROTOCOLS or size <= MULTIPART_FLOOR:
            return 0
        return await abort_s3_uploads(self.fs, rpath)

    @property
    def copy_batch(self) -> BatchCopy | None:
        """None: a folder's files go through the core one at a time, each retried."""
        return None

    async def ls(self, path: str) -> list[Entry]:
        """The entries directly under ``path``, names as full URIs."""
        fs = self.fs
        fs.invalidate_cache()
        if getattr(fs, "async_impl", False):
            found = await fs._ls(self.root_name(path), detail=True)
        else:  # a synchronous fsspec filesystem (memory://, hdfs://...)
            found = await asyncio.to_thread(fs.ls, self.root_name(path), detail=True)
        return [
            Entry(
                name=str(fs.unstrip_protocol(str(info["name"]))),
                type=str(info.get("type", "file")),
                size=int(info.get("size") or 0),
                modified=next(
                    (info[k] for k in ("LastModified", "last_modified", "updated", "mtime") if info.get(k)),
                    None,
                ),
            )
            for info in found
        ]

    async def rm_file(self, path: str) -> None:
        """Delete one object."""
        # _rm, not _rm_file: adlfs before 2026.2 has no _rm_file; every backend has _rm.
        await self.fs._rm(path)

    def _metadata_kwargs(self) -> dict[str, Any]:
        if not self._metadata:
            return {}
        if self._protocol in S3_PROTOCOLS:
            return {"Metadata": dict(self._metadata)}
        if self._protocol in GCS_PROTOCOLS:
            return {"metadata": dict(self._metadata)}
        return {}

    async def _azure_put(self, lpath: str, rpath: str, callback: Any) -> None:
        # adlfs's put_file fixes the blob's metadata itself, so upload through its SDK client.
        fs: Any = self.fs
        container, blob, _ = fs.split_path(rpath)
        metadata = {"is_directory": "false"}
        metadata.update(azure_metadata(self._metadata))
        extra: dict[str, Any] = {}
        if callback is not None:

            async def hook(current: int, total: int | None) -> None:
                callback.absolute_update(current)

            callback.set_size(os.path.getsize(lpath))
            extra["progress_hook"] = hook
        async with fs.service_client.get_blob_client(container, blob) as client:
            with open(lpath, "rb") as handle:
                await client.upload_blob(
                    handle,
                    overwrite=True,
                    metadata=metadata,
                    max_concurrency=getattr(fs, "max_concurrency", None) or 1,
                    **extra,
                )
        fs.invalidate_cache(fs._parent(rpath))
