"""The obstore engine: the same transfers as ``_transfer.Transfer``, with obstore moving bytes.

obstore (Rust's object_store) uploads, downloads and lists S3 and Azure objects with less CPU
per request than the Python SDKs. Everything above the byte moving (retries, atomic downloads,
path checks, bounded folder transfers, progress) is the base class's, so both engines behave
the same; only ``_upload``, ``_download``, ``_list_files`` and ``exists`` differ.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from persist._fs import is_not_found
from persist._transfer import Transfer, azure_metadata
from persist.config import MiB
from persist.errors import InvalidInputError
from persist.options import (
    AZURE_MAX_BLOCKS,
    AZURE_PROTOCOLS,
    OBSTORE_PART_SIZE,
    S3_MAX_PARTS,
    upload_part_size,
)
from persist.paths import split_protocol

__all__ = ["ObstoreTransfer", "clear_store_cache", "usable_here", "wait_for_handovers"]

# Downloads stream in pieces of this size; smaller ones are read whole and written at once.
_DOWNLOAD_CHUNK = 2 * MiB
# Parts of one file in flight at once hold at most about this much memory.
_PART_BUFFER = 64 * MiB
_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


@dataclass
class ObstoreTransfer(Transfer):
    """A Transfer whose bytes move through obstore stores, one store per bucket."""

    store_args: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = OBSTORE_PART_SIZE

    _bucket_stores: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def _store(self, bucket: str) -> Any:
        """The store for one bucket, built once per (protocol, settings, bucket), then reused.

        Reuse means repeated calls share one HTTP client and its open connections. This
        transfer remembers its own stores, so the files of a folder skip the shared lookup.
        """
        store = self._bucket_stores.get(bucket)
        if store is not None:
            return store
        key = json.dumps([self.protocol, bucket, self.store_args], sort_keys=True, default=repr)
        with _STORES_LOCK:
            store = _STORES.get(key)
            if store is None:
                from obstore.store import AzureStore, S3Store

                global _RUNTIME_STARTED
                _RUNTIME_STARTED = True
                cls = AzureStore if self.protocol in AZURE_PROTOCOLS else S3Store
                store = _STORES[key] = cls(bucket, **self.store_args)
                _guard_exit()
        self._bucket_stores[bucket] = store
        return store

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        """(bucket, key) of ``s3://bucket/key``, ``bucket/key`` or ``abfs://container@host/key``."""
        rest = split_protocol(path)[1].lstrip("/")
        bucket, _, key = rest.partition("/")
        return bucket.partition("@")[0], key

    def _attributes(self) -> dict[str, str] | None:
        if not self.metadata:
            return None
        if self.protocol in AZURE_PROTOCOLS:
            return azure_metadata(self.metadata)
        return dict(self.metadata)

    async def _upload(self, lpath: str, rpath: str, callback: Any, size: int | None) -> None:
        bucket, key = self._split(rpath)
        limit = AZURE_MAX_BLOCKS if self.protocol in AZURE_PROTOCOLS else S3_MAX_PARTS
        size = os.path.getsize(lpath) if size is None else size
        part = upload_part_size(size, self.chunk_size, limit)
        if callback is None:
            await self._put(bucket, key, Path(lpath), part)
            return
        callback.set_size(size)
        # obstore reports no progress of its own: it reads the file through this wrapper, which
        # counts each piece as obstore takes it (a part is counted when read, ahead of its
        # upload by at most the parts in flight). Only with a listener: a Path is read in Rust.
        with open(lpath, "rb", buffering=0) as raw:
            await self._put(bucket, key, _CountingReader(raw, callback), part)

    async def _put(self, bucket: str, key: str, source: Any, part: int) -> None:
        import obstore

        # A file larger than one part goes up in parts, a bounded number of them at once.
        await obstore.put_async(
            self._store(bucket),
            key,
            source,
            attributes=self._attributes(),
            chunk_size=part,
            max_concurrency=max(2, min(12, _PART_BUFFER // part)),
        )

    async def _download(self, rpath: str, lpath: str, callback: Any) -> None:
        import obstore

        bucket, key = self._split(rpath)
        result = await obstore.get_async(self._store(bucket), key)
        if callback is not None:
            callback.set_size(int(result.meta["size"]))
        # The caller renames ``lpath`` into place once it is complete.
        with open(lpath, "wb") as out:
            if int(result.meta["size"]) <= _DOWNLOAD_CHUNK:
                data = await result.bytes_async()
                out.write(data)
                if callback is not None:
                    callback.relative_update(len(data))
                return
            # The next piece is requested before this one is written, so the network and the
            # disk work at the same time.
            pieces = aiter(result.stream(min_chunk_size=_DOWNLOAD_CHUNK))
            following = asyncio.ensure_future(anext(pieces))
            while True:
                try:
                    piece = await following
                except StopAsyncIteration:
                    break
                following = asyncio.ensure_future(anext(pieces))
                try:
                    await asyncio.to_thread(out.write, piece)
                except BaseException:
                    following.cancel()
                    raise
                if callback is not None:
                    callback.relative_update(len(piece))

    def _root_name(self, rroot: str) -> str:
        bucket, key = self._split(rroot)
        return f"{bucket}/{key}".rstrip("/")

    async def _list_files(self, rroot: str) -> list[tuple[str, int]]:
        import obstore
        from obstore.exceptions import InvalidPathError

        bucket, key = self._split(rroot)
        store = self._store(bucket)
        prefix = key.rstrip("/")
        found: list[tuple[str, int]] = []
        if prefix:
            try:
                meta = await obstore.head_async(store, prefix)
                found.append((f"{bucket}/{meta['path']}", int(meta["size"])))
            except FileNotFoundError:
                pass
        try:
            async for batch in obstore.list(store, prefix=prefix or None, chunk_size=1000):
                found.extend((f"{bucket}/{m['path']}", int(m["size"])) for m in batch)
        except InvalidPathError as exc:
            # object_store refuses keys with '..' segments outright: never download them.
            raise InvalidInputError(
                f"a remote key under {rroot} could escape the download target; "
                f"use names without '..' segments ({str(exc).splitlines()[0][:200]})"
            ) from exc
        return sorted(set(found))

    async def exists(self, path: str) -> bool:
        """Whether an object, or any object under the prefix, exists at ``path``."""
        import obstore

        bucket, key = self._split(path)
        store = self._store(bucket)

        async def look() -> bool:
            prefix = key.rstrip("/")
            if prefix:
                try:
                    await obstore.head_async(store, prefix)
                    return True
                except FileNotFoundError:
                    pass
            try:
                async for batch in obstore.list(store, prefix=prefix or None, chunk_size=1):
                    if batch or not prefix:
                        return True
            except Exception as exc:
                if is_not_found(exc):
                    return False
                raise
            return not prefix  # an empty bucket exists

        return await self.retry.call(look, f"lookup of {path}")


class _CountingReader:
    """A binary file that tells an fsspec callback how many bytes were read from it."""

    def __init__(self, raw: BinaryIO, callback: Any) -> None:
        self._raw = raw
        self._callback = callback

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all with -1) and report how many."""
        data = self._raw.read(size)
        if data:
            self._callback.relative_update(len(data))
        return data or b""

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` (obstore seeks to the end to learn the size)."""
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        """The current offset."""
        return self._raw.tell()

    def seekable(self) -> bool:
        """Always: the wrapped file is a regular file."""
        return True

    def readable(self) -> bool:
        """Always."""
        return True


# Whether wait_for_handovers is registered to run at exit (once, with the first store). From
# 3.14 on, CPython parks a thread that wants the GIL back during shutdown instead of ending it.
_EXIT_GUARDED = sys.version_info >= (3, 14)


def _guard_exit() -> None:
    """Make the interpreter's exit wait for obstore's threads (see ``wait_for_handovers``)."""
    global _EXIT_GUARDED
    if not _EXIT_GUARDED:
        _EXIT_GUARDED = True
        atexit.register(wait_for_handovers)


def wait_for_handovers(timeout: float = 2.0) -> bool:
    """Wait until no other thread is inside an event loop's ``call_soon_threadsafe``.

    obstore finishes an awaited call from one of its own (Rust) threads, which hands the result
    to the event loop through ``call_soon_threadsafe``; that call lets go of the GIL while it
    wakes the loop, and the awaiting code may already run on. Should the interpreter begin to
    shut down before the thread has the GIL back, CPython before 3.14 ends the thread in a way
    its Rust frames cannot survive, and the whole process aborts (SIGABRT, exit status 134)
    after the work succeeded. Run at exit, this lets such threads finish first. Returns
    whether none was left within ``timeout`` seconds.

    It first lets go of the GIL for a moment: a thread still waiting for it (one that found its
    call cancelled, say) has no Python frame to find yet.
    """
    deadline = time.monotonic() + timeout
    time.sleep(0.001)
    while _handing_over():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


def _handing_over() -> bool:
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        current: FrameType | None = frame
        while current is not None:
            if current.f_code.co_name == "call_soon_threadsafe":
                return True
            current = current.f_back
    return False


# Whether this process has built an obstore store, and so started obstore's Rust (tokio)
# runtime; and whether it is a fork of a process that had. A forked child has none of the
# runtime's threads, and obstore offers no way to start a new runtime: every call would wait
# forever. Such a child moves its bytes through fsspec instead (see ``usable_here``).
_RUNTIME_STARTED = False
_FORKED_AFTER_START = False


def usable_here() -> bool:
    """Whether obstore can run in this process: not in a fork of one where it already ran."""
    return not _FORKED_AFTER_START


def _forget_after_fork() -> None:
    """In a forked child: drop the parent's stores (their connections are the parent's) and lock."""
    global _STORES_LOCK, _FORKED_AFTER_START
    _STORES_LOCK = threading.Lock()
    _STORES.clear()
    _FORKED_AFTER_START = _FORKED_AFTER_START or _RUNTIME_STARTED


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def clear_store_cache() -> None:
    """Forget every obstore store built so far."""
    with _STORES_LOCK:
        _STORES.clear()
