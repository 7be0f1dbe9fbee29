"""The local-disk backend, and the atomic local writes every engine's downloads use.

Local copies let the kernel move the bytes (``copy_file_range``, else ``sendfile``) and rename
each file into place. A folder is copied by one worker thread that goes through all its files:
each copy is a few system calls, so handing files to a pool one by one would cost more than the
copies themselves, and a second thread measured slower (see ``LocalBackend``).
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
    "ensure_folder",
    "local_path",
    "temp_path",
    "unlink_quietly",
    "walk_local",
]


class LocalBackend:
    """The local disk: kernel copies, each written to a temporary file and renamed into place.

    A folder is copied in one thread. On tmpfs, with the GIL, a second thread cost more than it
    overlapped: 2,000 x 4 KiB files (median of 9, quiet machine), put 45 ms wall / 45 ms CPU with
    one thread against 45-60 ms / 71-86 ms with two; get 57-73 ms against 74-110 ms wall
    (benchmarks/README.md, "Decisions measured"). Each file's system calls let go of the GIL, and
    with two threads every one of them became a hand-off between them.
    """

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
        """Copy a folder's files in a worker thread, each atomically (see ``_copy_in_thread``)."""
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
        """Copy files on the local disk in a worker thread, each file atomically.

        The first failure ends the copy. When the transfer is cancelled (Ctrl-C), the thread
        stops before its next file and removes the temporary file of the one in progress
        instead of renaming it.
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
    """Copy each job's file through a temporary file renamed into place; return how many.

    A failed file leaves no temporary file and, for an ``Exception``, becomes FileFailedError
    naming both paths; a destination folder that cannot be made raises its own error.
    """
    # Written for speed: this runs once per file of a folder, where a copy is a few
    # microseconds of system calls. The folders in use stay open, and files are opened and
    # renamed by their names in them: the kernel then resolves one name instead of a whole
    # path three times per file (about a sixth less CPU for 2,000 files of 4 KiB on tmpfs,
    # measured with the bare system calls in a loop).
    folders = _OpenFolders()
    done = 0
    split = _split
    try:
        for src, dst, _ in jobs:
            if stop.is_set():
                break
            if src.startswith("file://"):
                src = src[7:]
            if dst.startswith("file://"):
                dst = dst[7:]
            src_dir, src_name = split(src)
            dst_dir, dst_name = split(dst)
            # A destination folder that cannot be made fails with its own error, as it names
            # the folder; a failure of the file itself names both paths (FileFailedError).
            dst_fd = folders.target(dst_dir or os.curdir)
            tmp = _temp_name(dst_name)
            if dst_fd is None:
                tmp, dst_name = os.path.join(dst_dir, tmp), dst
            try:
                src_fd = folders.source(src_dir or os.curdir)
                size = copy_file(
                    src_name if src_fd is not None else src,
                    tmp,
                    stop=stop,
                    src_dir_fd=src_fd,
                    dst_dir_fd=dst_fd,
                )
                if stop.is_set():
                    _unlink_quietly_in(tmp, dst_fd)
                    break
                os.replace(tmp, dst_name, src_dir_fd=dst_fd, dst_dir_fd=dst_fd)
            except BaseException as exc:
                _unlink_quietly_in(tmp, dst_fd)
                if isinstance(exc, Exception):
                    raise FileFailedError(src, dst) from exc
                raise
            done += 1
            if progress is not None:
                progress(1, size)
    finally:
        folders.close()
    return done


_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
# os.replace is renameat too, but only os.rename is listed in os.supports_dir_fd.
_DIR_FDS = {os.open, os.rename, os.unlink} <= os.supports_dir_fd
"""Whether this platform opens, renames and removes files by name in an open folder."""


class _OpenFolders:
    """The source and destination folders a copy thread is in, kept open while files follow.

    A destination folder is made (with its parents) the first time it is seen. Where the
    platform has no ``dir_fd`` support, the folders are still made but none is opened.
    """

    __slots__ = ("made", "source_dir", "source_fd", "target_dir", "target_fd")

    def __init__(self) -> None:
        self.made: set[str] = set()
        self.source_dir = self.target_dir = ""
        self.source_fd: int | None = None
        self.target_fd: int | None = None

    def source(self, folder: str) -> int | None:
        if folder != self.source_dir and _DIR_FDS:
            self._close_source()
            self.source_fd = _open_folder(folder)
            self.source_dir = folder
        return self.source_fd

    def target(self, folder: str) -> int | None:
        if folder != self.target_dir:
            if folder not in self.made:
                os.makedirs(folder, exist_ok=True)
                self.made.add(folder)
            if _DIR_FDS:
                self._close_target()
                self.target_fd = _open_folder(folder)
            self.target_dir = folder
        return self.target_fd

    def _close_source(self) -> None:
        if self.source_fd is not None:
            os.close(self.source_fd)
            self.source_fd, self.source_dir = None, ""

    def _close_target(self) -> None:
        if self.target_fd is not None:
            os.close(self.target_fd)
            self.target_fd, self.target_dir = None, ""

    def close(self) -> None:
        self._close_source()
        self._close_target()


def _open_folder(folder: str) -> int | None:
    """``folder`` opened for use as a ``dir_fd``, or None where only its path can be used."""
    try:
        return os.open(folder, _DIR_FLAGS)
    except PermissionError:
        # Without O_PATH (macOS), opening needs read permission, which entering does not.
        return None


def _unlink_quietly_in(name: str, folder: int | None) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder)


def _list_chunk(names: Iterator[str], sizes: bool) -> list[tuple[str, int]]:
    # Sizes only feed the progress totals: one stat per file less without a listener.
    return [(p, os.path.getsize(p) if sizes else 0) for p in itertools.islice(names, _backend.LIST_BATCH)]


def walk_local(root: str) -> Iterable[tuple[str, str]]:
    """(path, relative posix path) of every file under ``root``, found lazily, in order."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = os.path.relpath(directory, root)
        # Each folder's two prefixes are made once; its files only add their names to them.
        rel_prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        prefix = os.path.join(directory, "")
        for name in sorted(files):
            yield prefix + name, rel_prefix + name


def _split_posix(path: str) -> tuple[str, str]:
    """``os.path.split`` for POSIX paths without a trailing separator, in one string method."""
    head, sep, name = path.rpartition("/")
    return head or sep, name


_split = _split_posix if os.sep == "/" and os.altsep is None else os.path.split


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
    return os.path.join(directory, _temp_name(name))


def _temp_name(name: str) -> str:
    """The name alone of a fresh temporary file for ``name`` (see ``temp_path``)."""
    return f".{name}.{_TEMP_PREFIX}{next(_TEMP_COUNTER)}.part"


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


def ensure_folder(folder: str) -> None:
    """Make ``folder`` and its parents unless it is a folder already.

    The check comes first because the common case is a folder that exists: there
    ``os.makedirs(exist_ok=True)`` costs three system calls and a caught exception, and a
    sequence of small downloads into one folder pays that on every file.
    """
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)


def copy_file(
    src: str,
    dst: str,
    *,
    stop: threading.Event | None = None,
    src_dir_fd: int | None = None,
    dst_dir_fd: int | None = None,
) -> int:
    """Copy the regular file ``src`` to ``dst``, which must not exist yet; return the bytes copied.

    Once ``stop`` is set, the copy ends early, within one chunk (of at most _STOPPABLE_CHUNK).
    A relative ``src`` or ``dst`` is taken in the open folder ``src_dir_fd`` or ``dst_dir_fd``
    when given (as ``os.open``'s ``dir_fd``).

    The kernel moves the bytes where it can: ``copy_file_range`` (which shares blocks on
    filesystems that clone, such as Btrfs and XFS), else ``sendfile``; Python reads and writes
    only where neither applies. The copy holds the bytes the file had when opened (a file that
    reports no size, as in ``/proc``, is read to its end). Opening without blocking means a
    named pipe is refused rather than waited on.
    """
    source = os.open(src, _READ_FLAGS, dir_fd=src_dir_fd)
    try:
        info = os.fstat(source)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", src)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a pipe, socket or device)", src)
        target = os.open(dst, _CREATE_FLAGS, 0o666, dir_fd=dst_dir_fd)
        try:
            size = info.st_size
            copied = 0
            if 0 < size <= _STOPPABLE_CHUNK and _KERNEL_COPIES and _KERNEL_COPIES[0] is _copy_range:
                # The common case of a folder's files, in one system call: the general loop
                # below costs more Python per file than the copy of a small file itself.
                try:
                    copied = os.copy_file_range(source, target, size)
                except OSError as exc:
                    if exc.errno not in _NO_KERNEL_COPY:
                        raise
                if copied == size:
                    return copied
            return _copy_descriptors(source, target, size or None, stop, copied)
        finally:
            os.close(target)
    finally:
        os.close(source)


def _copy_descriptors(
    source: int, target: int, size: int | None, stop: threading.Event | None = None, copied: int = 0
) -> int:
    """Copy ``size`` bytes (``None``: to the end) from ``source`` into ``target``.

    Both descriptors are at offset ``copied``, the bytes already there. A kernel copy that
    refuses the pair, or that moves nothing of a file with a size, hands over to the next way;
    a source that turns out shorter than its size ends the copy early.
    """
    limit = size if size is not None else sys.maxsize
    chunk = _KERNEL_COPY_CHUNK if stop is None else _STOPPABLE_CHUNK
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
