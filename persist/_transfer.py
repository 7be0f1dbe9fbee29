"""The transfer engine: single files and folders, bounded concurrency, atomic local writes.

Everything here is a coroutine that runs on persist's I/O loop (see ``_fs.io_loop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import posixpath
import re
import stat
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from persist._fs import RetryPolicy
from persist.config import MiB
from persist.errors import DataNotFoundError, InvalidInputError
from persist.options import AZURE_PROTOCOLS, FILE_PROTOCOLS, GCS_PROTOCOLS, S3_PROTOCOLS
from persist.paths import check_relative_key, join, split_protocol

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["ABORT_TIMEOUT", "FileFailedError", "Progress", "Transfer", "azure_metadata"]

T = TypeVar("T")

logger = logging.getLogger("persist")

ABORT_TIMEOUT = 5.0
"""Seconds an interrupted or failed S3 upload spends, at most, aborting its multipart upload."""

# S3's smallest part: neither engine uploads a file of this size or less in parts.
_MULTIPART_FLOOR = 5 * MiB


class FileFailedError(Exception):
    """One file of a transfer failed; ``__cause__`` is the backend's error."""

    def __init__(self, src: str, dst: str) -> None:
        super().__init__(f"{src} -> {dst}")
        self.src = src
        self.dst = dst


class Progress(Protocol):
    """Receives a transfer's progress: increments of finished files and moved bytes.

    Totals are passed once they are known (a folder download knows them after listing, a
    single-file download once the backend has told its size); a caller that knows them sooner
    (it walked the source itself) may ignore them. A negative ``nbytes`` takes back the bytes
    of an attempt that failed and is being retried, so the sum stays the bytes moved once.
    Calls may come from any thread.
    """

    def __call__(
        self, files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
    ) -> None:
        """Add ``files`` finished files and ``nbytes`` moved bytes; record totals when given."""


def _byte_callback(progress: Progress | None, *, single: bool = False) -> Any:
    """An fsspec callback that forwards the bytes of one file to ``progress`` (None without one).

    Backends report in two ways: s3fs (and persist's obstore engine) add increments with
    ``relative_update``; gcsfs and adlfs set the running count with ``absolute_update``. Both
    become increments here, so each byte is counted once whichever the backend uses.
    ``single`` says this file is the whole transfer: its size, once the backend knows it
    (``set_size``), is passed on as the transfer's totals.
    """
    if progress is None:
        return None
    report: Progress = progress
    from fsspec.callbacks import Callback

    class _Bytes(Callback):  # type: ignore[misc]
        size: int | None
        value: int

        def call(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_size(self, size: int) -> None:
            # adlfs calls this once per response: the totals go out once.
            if self.size is None and single:
                report(0, 0, total_files=1, total_bytes=int(size))
            self.size = size

        def relative_update(self, inc: int = 1) -> None:
            self.value += inc
            report(0, inc)

        def absolute_update(self, value: int) -> None:
            inc = int(value) - self.value
            if inc:
                self.value = int(value)
                report(0, inc)

        def restart(self) -> Any:
            """Take back what a failed attempt reported; returns self for the next attempt."""
            if self.value:
                report(0, -self.value)
                self.value = 0
            return self

    return _Bytes()


def _restart(callback: Any) -> Any:
    """``callback`` ready for a new attempt (see ``_byte_callback``), or None."""
    return None if callback is None else callback.restart()


_AZURE_METADATA_NAME = re.compile(r"[^A-Za-z0-9_]")


def azure_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` with names Azure accepts: every character but letters, digits and _ becomes _."""
    return {_AZURE_METADATA_NAME.sub("_", k): v for k, v in metadata.items()}


@dataclass
class Transfer:
    """How to move files with one filesystem: retries, concurrency, per-call kwargs, metadata."""

    fs_factory: Callable[[], AbstractFileSystem]
    protocol: str
    retry: RetryPolicy
    concurrency: int = 16
    put_kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    progress: Progress | None = None

    _fs: AbstractFileSystem | None = field(default=None, init=False, repr=False)

    @property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, built on first use."""
        if self._fs is None:
            self._fs = self.fs_factory()
        return self._fs

    @property
    def local(self) -> bool:
        """Whether the filesystem is the local disk."""
        return self.protocol in FILE_PROTOCOLS

    # --- single files -------------------------------------------------------------------

    async def put_file(
        self, lpath: str, rpath: str, size: int | None = None, *, single: bool = False
    ) -> None:
        """Upload one file; a local destination is written atomically.

        ``size``, when the caller already knows it, saves the engine a look at the file.
        ``single`` says the file is the whole transfer (its size is reported as the totals).
        """
        if self.local:
            await self._local_copy([(lpath, rpath)])
            return
        callback = _byte_callback(self.progress, single=single)

        async def attempt() -> None:
            try:
                await self._upload(lpath, rpath, _restart(callback), size)
            except BaseException:
                # Each attempt cleans up after itself, so a retry that succeeds leaves nothing
                # of the failed one behind either.
                await self._abort_multipart(lpath, rpath, size)
                raise

        try:
            await self.retry.call(attempt, f"upload of {lpath}")
        except Exception as exc:
            raise FileFailedError(lpath, rpath) from exc
        self._finished(callback, lpath)

    async def _abort_multipart(self, lpath: str, rpath: str, size: int | None) -> None:
        """Abort the unfinished S3 multipart uploads to ``rpath``: best effort, within ABORT_TIMEOUT.

        An interrupted or failed multipart upload otherwise stays in the bucket, its parts
        billed, until a lifecycle rule removes it. Neither engine does this on cancellation:
        s3fs aborts only when an ``Exception`` escapes (not on ``CancelledError``), and obstore
        neither aborts a dropped upload nor tells persist its upload id. So persist asks S3
        for the unfinished uploads of exactly this key and aborts them. Listing first, before
        every large upload, would tell this upload's id apart from anyone else's, but it
        costs a request per file and, with obstore, building the S3 client (about 0.5 s);
        moto reports no real start times to tell them apart by either. Another writer's
        unfinished upload of the very same key is aborted too: it was about to be overwritten,
        or was left behind by an earlier interrupted run. Azure's uncommitted blocks need no
        such step: they are not billed as committed data and expire by themselves in 7 days.
        """
        if self.protocol not in S3_PROTOCOLS:
            return
        if size is None:
            try:
                size = os.path.getsize(lpath)
            except OSError:
                return
        if size <= _MULTIPART_FLOOR:
            return
        try:
            aborted = await asyncio.wait_for(self._abort_uploads_of(rpath), ABORT_TIMEOUT)
        except (Exception, asyncio.CancelledError) as exc:
            # A second interrupt, a timeout or a refusal (no s3:ListBucketMultipartUploads):
            # the upload's own error is the one to report.
            logger.warning(
                "could not abort the unfinished multipart upload to %s (%s); "
                "a bucket lifecycle rule removes such uploads",
                rpath,
                type(exc).__name__,
            )
            return
        if aborted:
            logger.info("aborted %d unfinished multipart upload(s) to %s", aborted, rpath)

    async def _abort_uploads_of(self, rpath: str) -> int:
        """Abort every unfinished multipart upload of exactly ``rpath``'s key; return how many."""
        bucket, _, key = split_protocol(rpath)[1].lstrip("/").partition("/")
        fs: Any = self.fs
        pages: dict[str, str] = {}
        uploads: list[str] = []
        while True:
            page = await fs._call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key, **pages)
            uploads.extend(u["UploadId"] for u in page.get("Uploads", []) if u.get("Key") == key)
            if not page.get("IsTruncated"):
                break
            pages = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
        for upload_id in uploads:
            await fs._call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        return len(uploads)

    async def get_file(
        self, rpath: str, lpath: str, folder_exists: bool = False, *, single: bool = False
    ) -> None:
        """Download one file through a temporary file beside it, renamed into place at the end.

        A failure leaves any existing ``lpath`` untouched and no partial file behind.
        ``folder_exists`` says the caller has made ``lpath``'s folder already; ``single`` that
        the file is the whole transfer (its size, once known, is reported as the totals).
        """
        if self.local:
            await self._local_copy([(_local(rpath), lpath)])
            return
        # Making a folder and renaming a file are metadata calls of a few microseconds: done
        # here rather than in a worker thread, whose hand-off would cost more.
        directory, name = os.path.split(lpath)
        directory = directory or os.curdir
        if not folder_exists:
            os.makedirs(directory, exist_ok=True)
        tmp = temp_path(directory, name)
        callback = _byte_callback(self.progress, single=single)
        with _CleanedUpOnFailure(tmp, rpath, lpath):
            await self.retry.call(
                lambda: self._download(rpath, tmp, _restart(callback)), f"download of {rpath}"
            )
            os.replace(tmp, lpath)
        self._finished(callback, lpath)

    def _finished(self, callback: Any, local_path: str) -> None:
        """Report a finished file, with whatever bytes the backend's callback did not report."""
        if self.progress is not None:
            reported = callback.value if callback is not None else 0
            self.progress(1, max(0, os.path.getsize(local_path) - reported))

    async def exists(self, path: str) -> bool:
        """Whether an object or a non-empty prefix exists at ``path``."""
        if self.local:
            return os.path.exists(_local(path))
        return bool(await self.retry.call(lambda: self.fs._exists(path), f"lookup of {path}"))

    # --- what an engine implements --------------------------------------------------------

    async def _upload(self, lpath: str, rpath: str, callback: Any, size: int | None) -> None:
        """One attempt at uploading one file (of ``size`` bytes, if known) to a remote path."""
        if self.metadata and self.protocol in AZURE_PROTOCOLS:
            await self._azure_put(lpath, rpath, callback)
            return
        kwargs = {**self.put_kwargs, **self._metadata_kwargs()}
        if callback is not None:
            kwargs["callback"] = callback
        await self.fs._put_file(lpath, rpath, **kwargs)

    async def _download(self, rpath: str, lpath: str, callback: Any) -> None:
        """One attempt at downloading one remote file to a new local file."""
        kwargs = {} if callback is None else {"callback": callback}
        await self.fs._get_file(rpath, lpath, **kwargs)

    async def _list_files(self, rroot: str) -> list[tuple[str, int]]:
        """(full name, size) of every file at or under ``rroot``, with the root's name first."""
        root = self.fs._strip_protocol(rroot).rstrip("/")
        found = await self.fs._find(root, detail=True)
        return [
            (name, int(info.get("size") or 0))
            for name, info in sorted(found.items())
            if info.get("type") == "file" and not name.endswith("/")
        ]

    def _root_name(self, rroot: str) -> str:
        """``rroot`` as the names in ``_list_files`` spell it (no protocol, no trailing /)."""
        return str(self.fs._strip_protocol(rroot)).rstrip("/")

    def _metadata_kwargs(self) -> dict[str, Any]:
        if not self.metadata:
            return {}
        if self.protocol in S3_PROTOCOLS:
            return {"Metadata": dict(self.metadata)}
        if self.protocol in GCS_PROTOCOLS:
            return {"metadata": dict(self.metadata)}
        return {}

    async def _azure_put(self, lpath: str, rpath: str, callback: Any) -> None:
        # adlfs's put_file fixes the blob's metadata itself, so upload through its client.
        container, blob, _ = self.fs.split_path(rpath)
        metadata = {"is_directory": "false"}
        metadata.update(azure_metadata(self.metadata))
        extra: dict[str, Any] = {}
        if callback is not None:

            async def hook(current: int, total: int | None) -> None:
                callback.absolute_update(current)

            callback.set_size(os.path.getsize(lpath))
            extra["progress_hook"] = hook
        async with self.fs.service_client.get_blob_client(container, blob) as client:
            with open(lpath, "rb") as handle:
                await client.upload_blob(
                    handle,
                    overwrite=True,
                    metadata=metadata,
                    max_concurrency=getattr(self.fs, "max_concurrency", None) or 1,
                    **extra,
                )
        self.fs.invalidate_cache(self.fs._parent(rpath))

    # --- folders ------------------------------------------------------------------------

    async def put_tree(self, lroot: str, rroot: str) -> int:
        """Upload every file under ``lroot`` to the same relative key under ``rroot``.

        The layout is the same whether or not ``rroot`` exists. Files are read as they are
        found, at most ``concurrency`` at a time, so memory does not grow with the file count.
        """
        sep = os.sep if self.local else "/"
        if self.local:
            pairs = ((path, join(rroot, rel, sep=sep)) for path, rel in _walk_local(lroot))
            return await self._local_copy(pairs)
        files = ((path, join(rroot, rel, sep=sep), size) for path, rel, size in _sized(_walk_local(lroot)))
        return await bounded(files, lambda f: self.put_file(*f), self.concurrency)

    async def get_tree(self, rroot: str, lroot: str) -> int:
        """Download every file under ``rroot`` into ``lroot``, keeping relative paths.

        Every remote key is checked before anything is written: a key with a ``..`` segment
        raises InvalidInputError and nothing is written at all.
        """
        if self.local:
            root = _local(rroot)
            is_file = os.path.isfile(root)
            found = [(root, os.path.basename(root))] if is_file else list(_walk_local(root))
            # Sizes only feed the progress totals: one stat per file less without a listener.
            sized = self.progress is not None
            listing = [(path, rel, os.path.getsize(path) if sized else 0) for path, rel in found]
            if not listing and not os.path.exists(root):
                raise DataNotFoundError(f"{rroot} does not exist")
        else:
            listing = await self._list_remote(rroot)
        real_root = os.path.realpath(lroot)
        inside: dict[str, bool] = {}
        pairs: list[tuple[str, str]] = []
        for rpath, rel, _ in listing:
            check_relative_key(rel, "remote key", lroot)
            target = os.path.join(lroot, *rel.split("/"))
            directory = os.path.dirname(target)
            if directory not in inside:
                parent = os.path.realpath(directory)
                inside[directory] = os.path.commonpath([parent, real_root]) == real_root
            if not inside[directory]:
                raise InvalidInputError(f"remote key {rel!r} would be written outside {lroot}")
            pairs.append((rpath, target))
        if self.progress is not None:
            self.progress(0, 0, total_files=len(pairs), total_bytes=sum(size for _, _, size in listing))
        if self.local:
            await asyncio.to_thread(os.makedirs, lroot, exist_ok=True)
            return await self._local_copy(pairs)
        # Every folder at once, rather than a look for each file: each look lets go of the GIL,
        # which costs a hand-off while obstore's threads wait for it (see _sized).
        await asyncio.to_thread(_make_folders, [lroot, *inside])
        return await bounded(pairs, lambda p: self.get_file(*p, folder_exists=True), self.concurrency)

    async def _local_copy(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Copy files on the local disk in one worker thread, each atomically.

        One thread beats a pool here: each copy is a few system calls (the kernel copies the
        bytes), so handing files to threads one by one would cost more than the copies. When
        the transfer is cancelled (Ctrl-C), the thread stops before the next file and removes
        the temporary file of the one in progress instead of renaming it into place.
        """
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._copy_local, pairs, stop))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            # The thread stops within one chunk of the copy in progress and removes its
            # temporary file: wait for that, so that a process exiting right after the
            # interrupt (persist cp does, at once) leaves no .part file behind.
            with contextlib.suppress(BaseException):
                await work
            raise

    def _copy_local(self, pairs: Iterable[tuple[str, str]], stop: threading.Event) -> int:
        made: set[str] = set()
        done = 0
        for src, dst in pairs:
            if stop.is_set():
                break
            dst = _local(dst)
            directory, name = os.path.split(dst)
            directory = directory or os.curdir
            if directory not in made:
                os.makedirs(directory, exist_ok=True)
                made.add(directory)
            tmp = temp_path(directory, name)
            with _CleanedUpOnFailure(tmp, src, dst):
                size = copy_file(src, tmp, stop=stop)
                if stop.is_set():
                    _unlink_quietly(tmp)
                    break
                os.replace(tmp, dst)
            done += 1
            if self.progress is not None:
                self.progress(1, size)
        return done

    async def _list_remote(self, rroot: str) -> list[tuple[str, str, int]]:
        root = self._root_name(rroot)
        found = await self.retry.call(lambda: self._list_files(rroot), f"listing of {rroot}")
        listing: list[tuple[str, str, int]] = []
        for name, size in found:
            if name == root:
                listing.append((name, posixpath.basename(name), size))
            elif name.startswith(root + "/"):
                listing.append((name, name[len(root) + 1 :], size))
        if not listing:
            raise DataNotFoundError(f"{rroot} does not exist or holds no files")
        return listing


async def bounded(items: Iterable[T], work: Callable[[T], Awaitable[None]], limit: int) -> int:
    """Run ``work`` on each item, at most ``limit`` at a time, pulling items only as needed.

    The first failure stops new work; the ones in flight finish, then it is raised.
    """
    iterator = iter(items)
    done = 0
    failure: BaseException | None = None

    async def worker() -> None:
        nonlocal done, failure
        for item in iterator:
            if failure is not None:
                return
            try:
                await work(item)
            except BaseException as exc:
                failure = failure or exc
                return
            done += 1

    await asyncio.gather(*(worker() for _ in range(max(1, limit))))
    if failure is not None:
        raise failure
    return done


def _walk_local(root: str) -> Iterator[tuple[str, str]]:
    """(path, relative posix path) of every file under ``root``, found lazily, in order."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = os.path.relpath(directory, root)
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            yield os.path.join(directory, name), rel


def _sized(files: Iterator[tuple[str, str]], batch: int = 256) -> Iterator[tuple[str, str, int | None]]:
    """``files`` with each one's size (``None`` if it cannot be read), looked up a batch at a time.

    Each look lets go of the GIL. While obstore's threads wait to hand results back, every
    such release costs a hand-off of tens of microseconds; a batch in a row pays for about one.
    """
    while chunk := list(itertools.islice(files, batch)):
        yield from [(path, rel, _size_or_none(path)) for path, rel in chunk]


def _size_or_none(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None  # the upload itself will report what is wrong


def _make_folders(folders: list[str]) -> None:
    for folder in folders:
        os.makedirs(folder, exist_ok=True)


_TEMP_COUNTER = itertools.count()


def _temp_prefix() -> str:
    """A random token and the process id: with a counter, a name no other process makes."""
    return f"{os.urandom(4).hex()}{os.getpid():x}-"


_TEMP_PREFIX = _temp_prefix()
if hasattr(os, "register_at_fork"):

    def _new_temp_prefix() -> None:
        global _TEMP_PREFIX
        _TEMP_PREFIX = _temp_prefix()

    os.register_at_fork(after_in_child=_new_temp_prefix)


def temp_path(directory: str, name: str) -> str:
    """A fresh path in ``directory`` for the temporary file that becomes ``directory/name``.

    The name is hidden, ends in ``.part`` and is unique to this process: a random token and the
    process id drawn once (again in a forked child), then a counter; far cheaper than a UUID.
    """
    return os.path.join(directory, f".{name}.{_TEMP_PREFIX}{next(_TEMP_COUNTER)}.part")


_READ_FLAGS = (
    os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
)
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
_KERNEL_COPY_CHUNK = 1 << 30
# A copy that can be stopped checks between chunks of this size (about 0.1 s each here).
_STOPPABLE_CHUNK = 64 * MiB
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF, errno.EPERM}
)


def copy_file(src: str, dst: str, *, stop: threading.Event | None = None) -> int:
    """Copy the regular file ``src`` to ``dst``, which must not exist yet; return the bytes copied.

    Once ``stop`` is set, the copy ends early, within one chunk (of at most _STOPPABLE_CHUNK).

    The kernel moves the bytes where it can: ``copy_file_range`` (which shares blocks on
    filesystems that clone, such as Btrfs and XFS), else ``sendfile``; Python reads and writes
    only where neither applies. The copy holds the bytes the file had when opened (a file that
    reports no size, as in ``/proc``, is read to its end). Opening without blocking means a
    named pipe is refused rather than waited on.
    """
    source = os.open(src, _READ_FLAGS)
    try:
        info = os.fstat(source)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", src)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a pipe, socket or device)", src)
        target = os.open(dst, _CREATE_FLAGS, 0o666)
        try:
            return _copy_descriptors(source, target, info.st_size or None, stop)
        finally:
            os.close(target)
    finally:
        os.close(source)


def _copy_descriptors(source: int, target: int, size: int | None, stop: threading.Event | None = None) -> int:
    """Copy ``size`` bytes (``None``: to the end) from ``source`` into the empty ``target``.

    Both descriptors are at offset 0. A kernel copy that refuses the pair, or that moves nothing
    of a file with a size, hands over to the next way; a source that turns out shorter than its
    size ends the copy early.
    """
    limit = size if size is not None else sys.maxsize
    chunk = _KERNEL_COPY_CHUNK if stop is None else _STOPPABLE_CHUNK
    copied = 0
    for kernel_copy in _KERNEL_COPIES:
        try:
            while copied < limit and (
                step := kernel_copy(source, target, copied, min(chunk, limit - copied))
            ):
                copied += step
                if stop is not None and stop.is_set():
                    return copied
        except OSError as exc:
            if copied or exc.errno not in _NO_KERNEL_COPY:
                raise
            continue
        if copied or size is None:
            return copied
    while copied < limit and (data := os.read(source, min(1 << 20, limit - copied))):
        view = memoryview(data)
        while view:
            view = view[os.write(target, view) :]
        copied += len(data)
        if stop is not None and stop.is_set():
            break
    return copied


def _copy_range(source: int, target: int, offset: int, count: int) -> int:
    # Without offsets the kernel advances both descriptors, as the read fallback expects.
    return os.copy_file_range(source, target, min(count, _KERNEL_COPY_CHUNK))


def _send(source: int, target: int, offset: int, count: int) -> int:
    return os.sendfile(target, source, offset, min(count, _KERNEL_COPY_CHUNK))


_KERNEL_COPIES: tuple[Callable[[int, int, int, int], int], ...] = tuple(
    copy
    for copy, available in (
        (_copy_range, hasattr(os, "copy_file_range")),
        (_send, sys.platform == "linux" and hasattr(os, "sendfile")),
    )
    if available
)


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


class _CleanedUpOnFailure:
    """Remove the temporary file ``tmp`` if the block fails; an error becomes FileFailedError.

    Cancellation and other BaseExceptions pass through unchanged, after the clean-up. A class
    rather than a generator: it runs once per file of a folder copy, where that is measurable.
    """

    __slots__ = ("dst", "src", "tmp")

    def __init__(self, tmp: str, src: str, dst: str) -> None:
        self.tmp, self.src, self.dst = tmp, src, dst

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        _unlink_quietly(self.tmp)
        if isinstance(exc, Exception):
            raise FileFailedError(self.src, self.dst) from exc


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
