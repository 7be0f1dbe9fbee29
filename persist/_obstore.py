"""The obstore backend: obstore (Rust's object_store) moves S3 and Azure bytes.

obstore uploads, downloads and lists objects with less CPU per request than the Python SDKs.
Everything above the byte moving (retries, atomic downloads, path checks, bounded folder
transfers, progress) is the transfer core's, so both engines behave the same.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO

from persist import _backend
from persist._backend import (
    MULTIPART_FLOOR,
    BatchCopy,
    Entry,
    abort_s3_uploads,
    azure_metadata,
    own_filesystem,
    write_file,
)
from persist._errors import Kind, classify
from persist._plan import AZURE_MAX_BLOCKS, S3_MAX_PARTS, upload_part_size
from persist.config import MiB
from persist.errors import InvalidInputError
from persist.options import AZURE_PROTOCOLS, S3_PROTOCOLS
from persist.paths import split_protocol

if TYPE_CHECKING:
    from persist._plan import Plan

__all__ = ["ObstoreBackend", "clear_store_cache", "store_generation", "usable_here", "wait_for_handovers"]

# Downloads stream in pieces of this size; smaller ones are read whole and written at once.
_DOWNLOAD_CHUNK = 2 * MiB
# Parts of one file in flight at once hold at most about this much memory (obstore holds each
# part about twice while it is sent, plus the one being read): two 8 MiB parts at once kept a
# 256 MiB upload at moto's and Azurite's pace with a peak RSS of 86 MiB, where eight took
# 134-166 MiB (75 MiB since the part buffers are memory maps of their own, see
# _keep_part_buffers_mapped; benchmarks/README.md, "Decisions measured").
_PART_BUFFER = 16 * MiB
# Allocations from this size up get their own memory map, returned to the system when freed
# (see _keep_part_buffers_mapped).
_MMAP_THRESHOLD = 4 * MiB
_MMAP_FIXED = False
_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


class ObstoreBackend:
    """Moves files through obstore stores, one store per bucket, built from a plan."""

    sep = "/"

    def __init__(self, plan: Plan, metadata: dict[str, str]) -> None:
        self._plan = plan
        self._protocol = plan.protocol
        self._azure = plan.protocol in AZURE_PROTOCOLS
        self._attributes = (azure_metadata(metadata) if self._azure else dict(metadata)) or None
        self._bucket_stores: dict[str, Any] = {}

    def _store(self, bucket: str) -> Any:
        """The store for one bucket, built once per (protocol, settings, bucket), then reused.

        Reuse means repeated calls share one HTTP client and its open connections. This
        backend remembers its own stores, so the files of a folder skip the shared lookup.
        """
        store = self._bucket_stores.get(bucket)
        if store is not None:
            return store
        key = json.dumps([self._protocol, bucket, self._plan.store_args], sort_keys=True, default=repr)
        with _STORES_LOCK:
            store = _STORES.get(key)
            if store is None:
                from obstore.store import AzureStore, S3Store

                global _RUNTIME_STARTED
                _RUNTIME_STARTED = True
                cls = AzureStore if self._azure else S3Store
                store = _STORES[key] = cls(bucket, **self._plan.store_args)
                _guard_exit()
        self._bucket_stores[bucket] = store
        return store

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        """(bucket, key) of ``s3://bucket/key``, ``bucket/key`` or ``abfs://container@host/key``."""
        rest = split_protocol(path)[1].lstrip("/")
        bucket, _, key = rest.partition("/")
        return bucket.partition("@")[0], key

    async def upload_file(self, lpath: str, rpath: str, size: int | None, callback: Any) -> None:
        """One attempt at uploading one file, in parts when it is larger than one."""
        bucket, key = self._split(rpath)
        limit = AZURE_MAX_BLOCKS if self._azure else S3_MAX_PARTS
        size = os.path.getsize(lpath) if size is None else size
        part = upload_part_size(size, self._plan.part_size, limit)
        if size > part:
            _keep_part_buffers_mapped()
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
            attributes=self._attributes,
            chunk_size=part,
            max_concurrency=max(2, min(12, _PART_BUFFER // part)),
        )

    async def download_file(self, rpath: str, lpath: str, callback: Any) -> None:
        """One attempt at downloading one object into the new local file ``lpath``."""
        import obstore

        bucket, key = self._split(rpath)
        result = await obstore.get_async(self._store(bucket), key)
        await self.write_result(result, lpath, callback)

    @staticmethod
    async def write_result(result: Any, lpath: str, callback: Any) -> None:
        """Write the body of an obstore ``GetResult`` into the new local file ``lpath``."""
        size = int(result.meta["size"])
        if callback is not None:
            callback.set_size(size)
        if size <= _DOWNLOAD_CHUNK:
            data = await result.bytes_async()
            write_file(lpath, data)
            if callback is not None:
                callback.relative_update(len(data))
            return
        with open(lpath, "wb") as out:
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

    def root_name(self, root: str) -> str:
        """``bucket/key`` of ``root``, without a trailing /."""
        bucket, key = self._split(root)
        return f"{bucket}/{key}".rstrip("/")

    async def list_batches(
        self, root: str, sizes: bool, after: str | None
    ) -> AsyncIterator[list[tuple[str, int]]]:
        """(``bucket/key``, size) of the object at ``root``, then of the objects under it, by pages.

        obstore fetches a page of the listing only when the previous one was taken, so a
        folder's files can start moving while the rest is still being listed.
        """
        import obstore
        from obstore.exceptions import InvalidPathError

        bucket, key = self._split(root)
        store = self._store(bucket)
        prefix = key.rstrip("/")
        offset = after.partition("/")[2] if after is not None else None
        single = None
        if prefix and offset is None:
            try:
                meta = await obstore.head_async(store, prefix)
                single = str(meta["path"])
                yield [(f"{bucket}/{single}", int(meta["size"]))]
            except FileNotFoundError:
                pass
        try:
            async for batch in obstore.list(
                store, prefix=prefix or None, offset=offset, chunk_size=_backend.LIST_BATCH
            ):
                found = [(f"{bucket}/{m['path']}", int(m["size"])) for m in batch if m["path"] != single]
                if found:
                    yield found
        except InvalidPathError as exc:
            # object_store refuses keys with '..' segments outright: never download them.
            raise InvalidInputError(
                f"a remote key under {root} could escape the download target; "
                f"use names without '..' segments ({str(exc).splitlines()[0][:200]})"
            ) from exc

    async def exists(self, path: str) -> bool:
        """Whether an object, or any object under the prefix, exists at ``path``."""
        import obstore

        bucket, key = self._split(path)
        store = self._store(bucket)
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
            if classify(exc) is Kind.NOT_FOUND:  # no such bucket
                return False
            raise
        return not prefix  # an empty bucket exists

    async def abort_unfinished(self, rpath: str, size: int) -> int:
        """Abort the S3 multipart uploads of ``rpath``, through an s3fs client (see abort_s3_uploads)."""
        if self._protocol not in S3_PROTOCOLS or size <= MULTIPART_FLOOR:
            return 0
        fs = own_filesystem(self._plan)
        return await abort_s3_uploads(fs, rpath)

    @property
    def copy_batch(self) -> BatchCopy | None:
        """None: a folder's files go through the core one at a time, each retried."""
        return None

    async def ls(self, path: str) -> list[Entry]:
        """The objects and prefixes directly under ``path``, names as full URIs."""
        import obstore

        bucket, key = self._split(path)
        store = self._store(bucket)
        prefix = key.rstrip("/")
        # The listing first: a refused LIST names its reason (SignatureDoesNotMatch...), where a
        # refused HEAD has no body to name one. Only an empty listing asks whether a file is there.
        found = await obstore.list_with_delimiter_async(store, prefix=prefix or None)
        entries = [self._entry(bucket, p, "directory", 0, None) for p in found["common_prefixes"]]
        entries.extend(
            self._entry(bucket, m["path"], "file", m["size"], m["last_modified"]) for m in found["objects"]
        )
        if prefix and not entries:
            meta = await obstore.head_async(store, prefix)  # FileNotFoundError when nothing is there
            return [self._entry(bucket, meta["path"], "file", meta["size"], meta["last_modified"])]
        return entries

    def _entry(self, bucket: str, key: str, kind: str, size: int, modified: Any) -> Entry:
        name = f"{self._protocol}://{bucket}/{key.rstrip('/')}"
        return Entry(name=name, type=kind, size=int(size), modified=modified)

    async def rm_file(self, path: str) -> None:
        """Delete one object."""
        import obstore

        bucket, key = self._split(path)
        await obstore.delete_async(self._store(bucket), key)


def malloc_tuned_by_user(environ: Mapping[str, str]) -> bool:
    """Whether the environment sets glibc's mmap threshold itself (persist then leaves it)."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return "MALLOC_MMAP_THRESHOLD_" in environ or "glibc.malloc.mmap_threshold" in tunables


def _keep_part_buffers_mapped() -> None:
    """Have glibc's malloc give every allocation of 4 MiB or more its own memory map, once.

    obstore copies each part into buffers from the C allocator. glibc maps a large allocation
    on its own and unmaps it when freed, but then raises its threshold for the next ones to the
    freed size: from the second part on, the part buffers come from the heap, whose freed
    pieces stay resident and fragment, so the peak RSS of one upload wandered from 3 to 7 parts
    (a 256 MiB upload, 8 MiB parts: 73-105 MiB, median 89). A fixed threshold keeps each part
    buffer a map of its own: 73 MiB in every run, at the same pace (benchmarks/README.md,
    "Decisions measured"). glibc offers no per-allocation choice, so this is set for the
    process, only when a file goes up in parts; 4 MiB is below every part size (S3's minimum is
    5 MiB) and well above the allocations that a map would slow down. Other C libraries (musl)
    keep nothing of the kind, and ``mallopt`` is then missing: nothing is done. A process
    started with its own threshold (``MALLOC_MMAP_THRESHOLD_``, or ``GLIBC_TUNABLES`` naming
    ``glibc.malloc.mmap_threshold``) keeps it.
    """
    global _MMAP_FIXED
    if _MMAP_FIXED:
        return
    _MMAP_FIXED = True
    if not sys.platform.startswith("linux") or malloc_tuned_by_user(os.environ):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold = -3  # M_MMAP_THRESHOLD in glibc's malloc.h
    mallopt(m_mmap_threshold, _MMAP_THRESHOLD)


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
    global _GENERATION
    with _STORES_LOCK:
        _STORES.clear()
        _GENERATION += 1


_GENERATION = 0


def store_generation() -> int:
    """How many times ``clear_store_cache`` ran: holders of a backend rebuild it when this moves."""
    return _GENERATION
