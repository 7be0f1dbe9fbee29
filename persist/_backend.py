"""The backend protocol the transfer core drives, and what its three implementations share.

A backend moves the bytes of one file at a time (and lists, looks up, deletes); everything above
that — retries, atomic local writes, bounded concurrency, key checks, progress, the abort of
unfinished uploads — is the transfer core's (``_transfer.Transfer``). The implementations:
``_fsspec_backend.FsspecBackend`` (s3fs, adlfs, gcsfs), ``_obstore.ObstoreBackend`` and
``_local.LocalBackend``; ``make_backend`` picks one from a plan.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar

from persist.paths import split_protocol

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from persist._plan import Plan
    from persist._transfer import Progress

__all__ = [
    "MULTIPART_FLOOR",
    "Backend",
    "Entry",
    "FileJob",
    "abort_s3_uploads",
    "azure_metadata",
    "bounded",
    "make_backend",
]

T = TypeVar("T")

MULTIPART_FLOOR = 5 * 1024 * 1024
"""S3's smallest part: neither engine uploads a file of this size or less in parts, so a failed
upload of one leaves no unfinished multipart upload to abort."""

FileJob = tuple[str, str, "int | None"]
"""One file of a folder transfer: source, destination, size (None when not known)."""


class Entry(TypedDict):
    """One row of a listing: the full name (a URI for remote paths), type, size, modification."""

    name: str
    type: str
    size: int
    modified: Any


class Backend(Protocol):
    """What the transfer core needs from a storage backend.

    Single-file methods make one attempt (the core retries them) and must not leave a partial
    object or file where a reader could see it: ``download_file`` writes a new temporary file
    the core renames into place, and ``upload_file`` to a local destination renames too.
    ``callback`` is an fsspec-style byte callback (``set_size``, ``relative_update``,
    ``absolute_update``) or None.
    """

    sep: str
    """The separator of the backend's paths."""

    async def upload_file(self, lpath: str, rpath: str, size: int | None, callback: Any) -> None:
        """One attempt at storing the local file ``lpath`` (``size`` bytes, if known) at ``rpath``."""

    async def download_file(self, rpath: str, lpath: str, callback: Any) -> None:
        """One attempt at writing ``rpath``'s bytes into the new local file ``lpath``."""

    async def list_files(self, root: str, sizes: bool) -> list[tuple[str, int]]:
        """(name, size) of every file at or under ``root``; sizes may be 0 unless ``sizes``."""

    def root_name(self, root: str) -> str:
        """``root`` as ``list_files`` spells its names (no protocol, no trailing separator)."""

    async def exists(self, path: str) -> bool:
        """Whether a file, or anything under the prefix, is at ``path``."""

    async def abort_unfinished(self, rpath: str, size: int) -> int:
        """Abort unfinished multipart uploads of ``rpath`` after a failed upload; return how many."""

    async def copy_many(
        self,
        jobs: Iterable[FileJob],
        each: Callable[[FileJob], Awaitable[None]],
        limit: int,
        progress: Progress | None,
    ) -> int:
        """Run a folder's file jobs; return how many files were done.

        Remote backends run ``each`` (the core's retried, atomic single-file transfer), at
        most ``limit`` at a time. A backend with a faster way for a whole batch (the local
        disk's one-thread kernel copy) may use it instead, with the same guarantees, reporting
        each finished file to ``progress``.
        """

    async def ls(self, path: str) -> list[Entry]:
        """The files and folders directly under ``path`` (or ``path`` itself if a file)."""

    async def rm_file(self, path: str) -> None:
        """Delete one file."""


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


_AZURE_METADATA_NAME = re.compile(r"[^A-Za-z0-9_]")


def azure_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` with names Azure accepts: every character but letters, digits and _ becomes _."""
    return {_AZURE_METADATA_NAME.sub("_", k): v for k, v in metadata.items()}


async def abort_s3_uploads(fs: AbstractFileSystem, rpath: str) -> int:
    """Abort every unfinished multipart upload of exactly ``rpath``'s key; return how many.

    Served by an s3fs filesystem for both engines: obstore neither aborts a dropped upload nor
    tells persist its upload id, and has no call to list a key's unfinished uploads.
    """
    bucket, _, key = split_protocol(rpath)[1].lstrip("/").partition("/")
    client: Any = fs
    pages: dict[str, str] = {}
    uploads: list[str] = []
    while True:
        page = await client._call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key, **pages)
        uploads.extend(u["UploadId"] for u in page.get("Uploads", []) if u.get("Key") == key)
        if not page.get("IsTruncated"):
            break
        pages = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    for upload_id in uploads:
        await client._call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
    return len(uploads)


def make_backend(plan: Plan, metadata: dict[str, str]) -> Backend:
    """The backend a plan names, attaching ``metadata`` to uploads when the plan says so."""
    attached = dict(metadata) if plan.attach_metadata else {}
    if plan.engine == "local":
        from persist._local import LocalBackend

        return LocalBackend()
    if plan.engine == "obstore":
        from persist._obstore import ObstoreBackend

        return ObstoreBackend(plan, attached)
    from persist._fsspec_backend import FsspecBackend

    return FsspecBackend(plan, attached)
