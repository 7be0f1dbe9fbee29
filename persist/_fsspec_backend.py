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
        """(full name, size) of every file under ``root``, a list page at a time; else ``root``'s file.

        s3fs, adlfs and gcsfs are listed a page at a time (see :func:`_pages`), each page fetched
        when the previous one was taken, so a folder's files start while the rest is listed and
        memory holds a page, not the listing. Other filesystems are listed whole, then split.
        As fsspec's ``find`` does, ``root`` itself counts as a file only when nothing is under it.
        """
        name = self.root_name(root)
        pages = _pages(self.fs, name, after)
        if pages is None:
            async for batch in self._whole_listing(name, after):
                yield batch
            return
        listed = False
        async for page in pages:
            listed = True
            # A listing restarted after a failure starts over; what came before is skipped.
            files = page if after is None else [(n, size) for n, size in page if n > after]
            if files:
                yield files
        if not listed:
            try:
                info = await self.fs._info(name)
            except FileNotFoundError:
                return
            if info.get("type") == "file" and (after is None or name > after):
                yield [(name, int(info.get("size") or 0))]

    async def _whole_listing(self, name: str, after: str | None) -> AsyncIterator[list[tuple[str, int]]]:
        """(full name, size) of every file at or under ``name`` from one ``find``, in batches."""
        found = await self.fs._find(name, detail=True)
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


def _pages(fs: Any, name: str, after: str | None) -> AsyncIterator[list[tuple[str, int]]] | None:
    """Pages of (full name, size) of the files under the folder ``name`` (``bucket/key``).

    fsspec's public listings (``find``, ``walk``) return a whole listing, or a folder level at a
    time, so they are not used. s3fs, adlfs and gcsfs each page through the store's list call
    themselves, behind private methods: this drives those pages (s3fs's ``_call_s3`` of
    ``list_objects_v2``, the Azure SDK's ``list_blobs`` pages on adlfs's service client, gcsfs's
    ``_call`` of the JSON API's object listing), ``LIST_BATCH`` names a page. ``None`` for any
    other filesystem. Pages come in name order (the stores list in key order); a listing
    restarted behind ``after`` starts there on S3, and from the start elsewhere (the caller
    skips what came before).
    """
    bucket, _, key = name.partition("/")
    prefix = f"{key}/" if key else ""
    modules = {cls.__module__.partition(".")[0] for cls in type(fs).__mro__}
    if "s3fs" in modules and hasattr(fs, "_call_s3"):
        return _s3_pages(fs, bucket, prefix, after)
    if "adlfs" in modules and hasattr(fs, "service_client"):
        return _azure_pages(fs, bucket, prefix)
    if "gcsfs" in modules:
        return _gcs_pages(fs, bucket, prefix)
    return None


async def _s3_pages(
    fs: Any, bucket: str, prefix: str, after: str | None
) -> AsyncIterator[list[tuple[str, int]]]:
    """s3fs: ``list_objects_v2`` pages of ``LIST_BATCH`` keys, through s3fs's retrying call.

    ``after`` (``bucket/key``) starts the listing behind that key (``StartAfter``).
    """
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": _backend.LIST_BATCH}
    kwargs.update(getattr(fs, "req_kw", None) or {})  # RequestPayer, as s3fs sends it
    if after is not None:
        kwargs["StartAfter"] = after.partition("/")[2]
    while True:
        listed = await fs._call_s3("list_objects_v2", **kwargs)
        page = [
            (f"{bucket}/{item['Key']}", int(item.get("Size") or 0))
            for item in listed.get("Contents", [])
            if not str(item["Key"]).endswith("/")  # not a folder marker
        ]
        if page:
            yield page
        if not listed.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = listed["NextContinuationToken"]


async def _azure_pages(fs: Any, container: str, prefix: str) -> AsyncIterator[list[tuple[str, int]]]:
    """adlfs: the Azure SDK's ``list_blobs`` pages, folder markers left out as adlfs does."""
    async with fs.service_client.get_container_client(container) as client:
        blobs = client.list_blobs(
            name_starts_with=prefix or None, include=["metadata"], results_per_page=_backend.LIST_BATCH
        )
        async for listed in blobs.by_page():
            page: list[tuple[str, int]] = []
            async for blob in listed:
                metadata = blob.metadata or {}
                folder = "true" in (metadata.get("is_directory"), metadata.get("hdi_isfolder"))
                if not folder and not blob.name.endswith("/"):
                    page.append((f"{container}/{blob.name}", int(blob.size or 0)))
            if page:
                yield page


async def _gcs_pages(fs: Any, bucket: str, prefix: str) -> AsyncIterator[list[tuple[str, int]]]:
    """gcsfs: pages of the JSON API's object listing, through gcsfs's own request call."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"prefix": prefix, "maxResults": _backend.LIST_BATCH}
        if token:
            params["pageToken"] = token
        listed = await fs._call("GET", "b/{}/o", bucket, json_out=True, **params)
        page = [
            (f"{bucket}/{item['name']}", int(item.get("size") or 0))
            for item in listed.get("items", [])
            if not str(item["name"]).endswith("/")
        ]
        if page:
            yield page
        token = listed.get("nextPageToken")
        if not token:
            return
