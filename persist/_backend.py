"""The backend protocol the transfer core drives, and what its three implementations share.

A backend moves the bytes of one file at a time (and lists, looks up, deletes); everything above
that — retries, atomic local writes, bounded concurrency, key checks, progress, the abort of
unfinished uploads — is the transfer core's (``_transfer.Transfer``). The implementations:
``_fsspec_backend.FsspecBackend`` (s3fs, adlfs, gcsfs), ``_obstore.ObstoreBackend`` and
``_local.LocalBackend``; ``make_backend`` picks one from a plan.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from persist.options import S3_PROTOCOLS
from persist.paths import split_protocol

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from persist._plan import Plan
    from persist._transfer import Progress

__all__ = [
    "LIST_BATCH",
    "MULTIPART_FLOOR",
    "Backend",
    "BatchCopy",
    "Entry",
    "FileJob",
    "abort_s3_uploads",
    "azure_metadata",
    "make_backend",
    "own_filesystem",
    "write_file",
]

LIST_BATCH = 1000
"""Names per listing batch where a backend chooses the size (one S3 or Azure list page)."""

MULTIPART_FLOOR = 5 * 1024 * 1024
"""S3's smallest part: neither engine uploads a file of this size or less in parts, so a failed
upload of one leaves no unfinished multipart upload to abort."""

_WRITE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)

FileJob = tuple[str, str, "int | None"]
"""One file of a folder transfer: source, destination, size (None when not known)."""


class BatchCopy(Protocol):
    """Copies a folder's files in one go; returns how many were copied."""

    async def __call__(self, jobs: Iterable[FileJob], progress: Progress | None) -> int:
        """Copy each (source, destination, size) job, reporting finished files to ``progress``."""


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

    def list_batches(self, root: str, sizes: bool, after: str | None) -> AsyncIterator[list[tuple[str, int]]]:
        """(name, size) of every file at or under ``root``, a batch at a time, as the store lists them.

        Sizes may be 0 unless ``sizes``. Each batch is fetched only when the previous one was
        taken, so memory holds about one batch whatever the number of files. ``after`` is the
        last name of a batch already received: a listing restarted after a failure resumes
        behind it instead of repeating what came before.
        """

    def root_name(self, root: str) -> str:
        """``root`` as ``list_batches`` spells its names (no protocol, no trailing separator)."""

    async def exists(self, path: str) -> bool:
        """Whether a file, or anything under the prefix, is at ``path``."""

    async def abort_unfinished(self, rpath: str, size: int) -> int:
        """Abort unfinished multipart uploads of ``rpath`` after a failed upload; return how many."""

    @property
    def copy_batch(self) -> BatchCopy | None:
        """A faster way to copy a whole folder's files than one at a time, or None.

        The local disk has one (kernel copies in a worker thread, each file written atomically
        and reported to ``progress``); for the others the core runs its retried single-file
        transfers, at most ``generic.max_concurrency`` at a time.
        """

    async def ls(self, path: str) -> list[Entry]:
        """The files and folders directly under ``path`` (or ``path`` itself if a file)."""

    async def rm_file(self, path: str) -> None:
        """Delete one file."""


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


def own_filesystem(plan: Plan) -> AbstractFileSystem:
    """Persist's own fsspec filesystem for a plan, built once per options and then reused.

    On S3 it gets persist's aiobotocore session (``_fs.s3_session``, which drops
    ``Expect: 100-continue`` so that ``generic.read_timeout`` bounds uploads too): a runtime
    object that the plan, plain data, does not hold.
    """
    from persist._fs import build_filesystem, s3_session

    options = plan.fs_options
    if plan.protocol in S3_PROTOCOLS:
        options = {**options, "session": s3_session()}
    return build_filesystem(plan.protocol, options, tune=plan.fs_tune)


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


def write_file(path: str, data: Any) -> None:
    """Write ``data`` (bytes or any buffer) into ``path``, created or truncated.

    Bare descriptor calls: ``open()`` adds a status call, a terminal check and a buffered
    writer, which for the 1 KiB body of a small download cost as much as the write itself.
    Truncating rather than creating exclusively lets a retried download reuse its temporary
    file, as ``open(path, "wb")`` did.
    """
    fd = os.open(path, _WRITE_FLAGS, 0o666)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
