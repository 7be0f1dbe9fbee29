"""The local-disk backend, and the atomic local writes every engine's downloads use.

Local copies let the kernel move the bytes (``copy_file_range``, else ``sendfile``) and rename
each file into place. A folder is copied by one worker thread: each copy is a few system calls,
so handing files to a pool one by one would cost more than the copies themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from persist import _backend
from persist._backend import BatchCopy, Entry, FileJob
from persist._errors import FileFailedError
from persist.config import MiB
from persist.errors import InvalidInputError

if TYPE_CHECKING:
    from persist._transfer import Progress

__all__ = [
    "CleanedUpOnFailure",
    "LocalBackend",
    "copy_file",
    "local_path",
    "temp_path",
    "unlink_quietly",
    "walk_local",
]


class LocalBackend:
    """The local disk: kernel copies, each written to a temporary file and renamed into place."""

    sep = os.sep

    async def upload_file(self, lpath: str, rpath: str, size: int | None, callback: Any) -> None:
        """Copy ``lpath`` to ``rpath`` atomically (a temporary file renamed into place)."""
        await self._copy_in_thread([(lpath, rpath, size)], None)

    async def download_file(self, rpath: str, lpath: str, callback: Any) -> None:
        """Copy the local file ``rpath`` into the new file ``lpath``."""
        src = local_path(rpath)
        if os.path.isdir(src):
            raise InvalidInputError(f"{rpath} is a folder; pass is_multipart=True (recursive=True)")
        stop = threading.Event()
        await _stoppable(asyncio.to_thread(copy_file, src, lpath, stop=stop), stop)

    async def list_batches(
        self, root: str, sizes: bool, after: str | None
    ) -> AsyncIterator[list[tuple[str, int]]]:
        """(path, size) of the file ``root`` or of the files under the folder ``root``, by batches."""
        path = local_path(root)
        if os.path.isfile(path):
            if after is None:
                yield [(path, os.path.getsize(path))]
            return
        # The walk's order is fixed, so a restarted listing skips up to ``after`` and goes on.
        names: Iterator[str] = (p for p, _ in walk_local(path))
        if after is not None:
            names = itertools.dropwhile(lambda p: p != after, names)
            next(names, None)
        while chunk := await asyncio.to_thread(_list_chunk, names, sizes):
            yield chunk

    def root_name(self, root: str) -> str:
        """``root`` without ``file://`` and trailing separators."""
        return local_path(root).rstrip(os.sep) or os.sep

    async def exists(self, path: str) -> bool:
        """Whether anything is at ``path``."""
        return os.path.exists(local_path(path))

    async def abort_unfinished(self, rpath: str, size: int) -> int:
        """Nothing to abort: a local copy leaves no parts."""
        return 0

    @property
    def copy_batch(self) -> BatchCopy:
        """Copy a folder's files in one worker thread, each atomically (see ``_copy_in_thread``)."""
        return self._copy_in_thread

    async def ls(self, path: str) -> list[Entry]:
        """The entries directly in the folder ``path`` (or the file itself)."""
        root = local_path(path)

        def scan() -> list[Entry]:
            if not os.path.isdir(root):
                info = os.stat(root)
                return [Entry(name=root, type="file", size=info.st_size, modified=info.st_mtime)]
            with os.scandir(root) as found:
                return [
                    Entry(
                        name=entry.path,
                        type="directory" if entry.is_dir() else "file",
                        size=0 if entry.is_dir() else entry.stat().st_size,
                        modified=entry.stat().st_mtime,
                    )
                    for entry in found
                ]

        return await asyncio.to_thread(scan)

    async def rm_file(self, path: str) -> None:
        """Delete one file."""
        await asyncio.to_thread(os.unlink, local_path(path))

    async def _copy_in_thread(self, jobs: Iterable[FileJob], progress: Progress | None) -> int:
        """Copy files on the local disk in one worker thread, each atomically.

        When the transfer is cancelled (Ctrl-C), the thread stops before the next file and
        removes the temporary file of the one in progress instead of renaming it into place.
        """
        stop = threading.Event()
        return await _stoppable(asyncio.to_thread(_copy_local, jobs, stop, progress), stop)


async def _stoppable(work: Awaitable[int], stop: threading.Event) -> int:
    """Await a copy in a worker thread; on cancellation, tell it to stop and wait until it has."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        # The thread stops within one chunk of the copy in progress and removes its temporary
        # file: wait for that, so that a process exiting right after the interrupt (persist cp
        # does, at once) leaves no .part file behind.
        with contextlib.suppress(BaseException):
            await future
        raise


def _copy_local(jobs: Iterable[FileJob], stop: threading.Event, progress: Progress | None) -> int:
    made: set[str] = set()
    done = 0
    for src, dst, _ in jobs:
        if stop.is_set():
            break
        dst = local_path(dst)
        directory, name = os.path.split(dst)
        directory = directory or os.curdir
        if directory not in made:
            os.makedirs(directory, exist_ok=True)
            made.add(directory)
        tmp = temp_path(directory, name)
        with CleanedUpOnFailure(tmp, src, dst):
            size = copy_file(local_path(src), tmp, stop=stop)
            if stop.is_set():
                unlink_quietly(tmp)
                break
            os.replace(tmp, dst)
        done += 1
        if progress is not None:
            progress(1, size)
    return done


def _list_chunk(names: Iterator[str], sizes: bool) -> list[tuple[str, int]]:
    # Sizes only feed the progress totals: one stat per file less without a listener.
    return [(p, os.path.getsize(p) if sizes else 0) for p in itertools.islice(names, _backend.LIST_BATCH)]


def walk_local(root: str) -> Iterable[tuple[str, str]]:
    """(path, relative posix path) of every file under ``root``, found lazily, in order."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = os.path.relpath(directory, root)
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            yield os.path.join(directory, name), rel


def local_path(path: str) -> str:
    """``path`` without a leading ``file://``."""
    return path[len("file://") :] if path.startswith("file://") else path


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


class CleanedUpOnFailure:
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
        unlink_quietly(self.tmp)
        if isinstance(exc, Exception):
            raise FileFailedError(self.src, self.dst) from exc


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
