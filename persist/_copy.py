"""Remote-to-remote copies: stream each object from one store into another, whole or not at all.

No local copy is made: each object is read in parts of the destination's part size and written
through the destination filesystem's own multipart (S3), resumable (GCS) or block (Azure)
upload, which makes the object appear only when it is closed. On any failure (or a stop
request, on Ctrl-C) the writer is discarded instead of closed: s3fs aborts its multipart
upload, gcsfs cancels its resumable session, adlfs never commits its staged blocks. So memory
stays within about two parts per file, and files are copied one at a time.

Both ends are plain fsspec filesystems, because only they offer a writable file object over
every backend (obstore's writer has no way to abandon an upload across stores).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from fsspec import AbstractFileSystem

from persist.errors import InvalidInputError
from persist.paths import check_relative_key

__all__ = ["READ_SIZE", "CopyFailed", "copy_files", "plan_copy"]

READ_SIZE = 1024 * 1024
"""Bytes taken from the reader at a time; it fetches a part ahead, the writer sends whole parts."""


class CopyFailed(Exception):
    """A copy failed on one side: ``side`` is ``read`` or ``write``; the cause is chained."""

    def __init__(self, side: str, src: str) -> None:
        super().__init__(f"{side} of {src} failed")
        self.side = side
        self.src = src


def _strip(fs: AbstractFileSystem, path: str) -> str:
    return str(fs._strip_protocol(path)).rstrip("/")


def plan_copy(
    src_fs: AbstractFileSystem, src: str, dst: str, recursive: bool
) -> list[tuple[str, str, int | None]]:
    """The (source, destination, size) of every object to copy, keeping the relative layout.

    Raises:
        FileNotFoundError: nothing is at ``src``.
        InvalidInputError: ``src`` is a folder without ``recursive``, or a key would leave ``dst``.
    """
    src_fs.invalidate_cache()
    root = _strip(src_fs, src)
    if not recursive:
        info = src_fs.info(src)
        if info.get("type") == "directory":
            raise InvalidInputError(f"{src} is a folder; use -r to copy it")
        return [(root, dst, info.get("size"))]
    found = src_fs.find(src, detail=True)
    if not found:
        raise FileNotFoundError(src)
    pairs = []
    base = dst.rstrip("/")
    for path, info in sorted(found.items()):
        if info.get("type") == "directory":
            continue
        relative = str(path)[len(root) :].lstrip("/")
        check_relative_key(relative, "key", dst)
        pairs.append((str(path), f"{base}/{relative}", info.get("size")))
    return pairs


def copy_files(
    src_fs: AbstractFileSystem,
    dst_fs: AbstractFileSystem,
    pairs: list[tuple[str, str, int | None]],
    part_size: int,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Copy each (source, destination) pair in turn, streaming ``part_size`` bytes at a time.

    Raises:
        CopyFailed: reading or writing one object failed (or ``stop`` was set); that object
            was not created, the ones before it are complete.
    """
    for src, dst, _ in pairs:
        _copy_one(src_fs, dst_fs, src, dst, part_size, progress, stop)


def _copy_one(
    src_fs: AbstractFileSystem,
    dst_fs: AbstractFileSystem,
    src: str,
    dst: str,
    part_size: int,
    progress: Callable[[int, int], None] | None,
    stop: threading.Event | None,
) -> None:
    try:
        reader = src_fs.open(src, "rb", block_size=part_size)
    except Exception as exc:
        raise CopyFailed("read", src) from exc
    try:
        try:
            writer = dst_fs.open(dst, "wb", block_size=part_size)
        except Exception as exc:
            raise CopyFailed("write", src) from exc
        side = "read"
        try:
            while True:
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                side = "read"
                chunk = reader.read(READ_SIZE)
                if not chunk:
                    break
                side = "write"
                writer.write(chunk)
                if progress is not None:
                    progress(0, len(chunk))
            side = "write"
            writer.close()  # the object appears now, whole
        except BaseException as exc:
            _abandon(writer)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise CopyFailed(side, src) from exc
    finally:
        reader.close()
    if progress is not None:
        progress(1, 0)


def _abandon(writer: Any) -> None:
    """Throw an unfinished upload away without committing it (never ``close``, which commits)."""
    with contextlib.suppress(Exception):  # best effort; the upload is never committed either way
        writer.discard()
    # fsspec closes (commits) an open file when it is collected; this one must never commit.
    writer.closed = True
