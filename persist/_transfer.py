"""The transfer core: one orchestration layer over any backend (see ``_backend.Backend``).

It owns what every backend shares: retries with the plan's one budget, atomic local writes
(a temporary file renamed into place), bounded concurrency, a streamed folder listing whose
keys are checked before their files start, progress (taken back when an attempt is retried),
and the abort of unfinished multipart uploads after a failed or cancelled upload. Everything
here is a coroutine that runs on persist's I/O loop (see ``_fs.io_loop``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from persist import _backend
from persist._errors import FileFailedError
from persist._local import CleanedUpOnFailure, ensure_folder, temp_path, walk_local
from persist.errors import DataNotFoundError, InvalidInputError
from persist.paths import check_relative_key, join

if TYPE_CHECKING:
    from persist._backend import Backend, Entry, FileJob
    from persist._fs import RetryPolicy

__all__ = ["ABORT_TIMEOUT", "Progress", "Transfer"]

T = TypeVar("T")

logger = logging.getLogger("persist")

ABORT_TIMEOUT = 5.0
"""Seconds a failed or cancelled upload spends, at most, aborting its unfinished multipart upload."""


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


@dataclass
class Transfer:
    """Moves files and folders through one backend with one retry budget."""

    backend: Backend
    retry: RetryPolicy
    concurrency: int = 16
    progress: Progress | None = None

    # --- single files -------------------------------------------------------------------

    async def put_file(
        self, lpath: str, rpath: str, size: int | None = None, *, single: bool = False
    ) -> None:
        """Upload one file.

        ``size``, when the caller already knows it, saves the backend a look at the file.
        ``single`` says the file is the whole transfer (its size is reported as the totals).
        """
        callback = _byte_callback(self.progress, single=single)

        async def attempt() -> None:
            try:
                await self.backend.upload_file(lpath, rpath, size, _restart(callback))
            except BaseException:
                # Each attempt cleans up after itself, so a retry that succeeds leaves nothing
                # of the failed one behind either.
                await self._abort_unfinished(lpath, rpath, size)
                raise

        try:
            await self.retry.call(attempt, f"upload of {lpath}")
        except Exception as exc:
            raise FileFailedError(lpath, rpath) from exc
        self._finished(callback, lpath)

    async def _abort_unfinished(self, lpath: str, rpath: str, size: int | None) -> None:
        """Abort the unfinished multipart uploads to ``rpath``: best effort, within ABORT_TIMEOUT.

        An interrupted or failed S3 multipart upload otherwise stays in the bucket, its parts
        billed, until a lifecycle rule removes it. Neither engine does this on cancellation
        (s3fs aborts only when an ``Exception`` escapes; obstore never tells its upload id), so
        the backend asks for the unfinished uploads of exactly this key and aborts them.
        Another writer's unfinished upload of the very same key is aborted too: it was about to
        be overwritten, or was left behind by an earlier interrupted run.
        """
        if size is None:
            try:
                size = os.path.getsize(lpath)
            except OSError:
                return
        try:
            aborted = await asyncio.wait_for(self.backend.abort_unfinished(rpath, size), ABORT_TIMEOUT)
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

    async def get_file(
        self, rpath: str, lpath: str, folder_exists: bool = False, *, single: bool = False
    ) -> None:
        """Download one file through a temporary file beside it, renamed into place at the end.

        A failure leaves any existing ``lpath`` untouched and no partial file behind.
        ``folder_exists`` says the caller has made ``lpath``'s folder already; ``single`` that
        the file is the whole transfer (its size, once known, is reported as the totals).
        """
        # Making a folder and renaming a file are metadata calls of a few microseconds: done
        # here rather than in a worker thread, whose hand-off would cost more.
        directory, name = os.path.split(lpath)
        directory = directory or os.curdir
        if not folder_exists:
            ensure_folder(directory)
        tmp = temp_path(directory, name)
        callback = _byte_callback(self.progress, single=single)
        with CleanedUpOnFailure(tmp, rpath, lpath):
            await self.retry.call(
                lambda: self.backend.download_file(rpath, tmp, _restart(callback)), f"download of {rpath}"
            )
            os.replace(tmp, lpath)
        self._finished(callback, lpath)

    def _finished(self, callback: Any, path: str) -> None:
        """Report a finished file, with whatever bytes the backend's callback did not report."""
        if self.progress is not None:
            reported = callback.value if callback is not None else 0
            self.progress(1, max(0, os.path.getsize(path) - reported))

    async def exists(self, path: str) -> bool:
        """Whether an object or a non-empty prefix exists at ``path``."""
        return await self.retry.call(lambda: self.backend.exists(path), f"lookup of {path}")

    async def ls(self, path: str) -> list[Entry]:
        """The entries directly under ``path``."""
        return await self.retry.call(lambda: self.backend.ls(path), f"listing of {path}")

    async def rm_file(self, path: str) -> None:
        """Delete one file or object."""
        await self.retry.call(lambda: self.backend.rm_file(path), f"delete of {path}")

    # --- folders ------------------------------------------------------------------------

    async def put_tree(self, lroot: str, rroot: str) -> int:
        """Upload every file under ``lroot`` to the same relative key under ``rroot``.

        The layout is the same whether or not ``rroot`` exists. Files are read as they are
        found, at most ``concurrency`` at a time, so memory does not grow with the file count.
        """
        sep = self.backend.sep
        if self.backend.copy_batch is not None:
            # A batch copy learns each size as it copies: no look-up of every file ahead of it.
            # The walk's relative names have no separator at either end, so each destination is
            # the root's prefix plus the name: join's parsing is done once, not once per file.
            head = join(rroot, "x", sep=sep)[:-1]
            return await self._run(
                ((path, head + rel, None) for path, rel in walk_local(lroot)), self._put_job
            )
        jobs = ((path, join(rroot, rel, sep=sep), size) for path, rel, size in _sized(walk_local(lroot)))
        return await self._run(jobs, self._put_job)

    async def _run(self, jobs: Iterable[FileJob], each: Callable[[FileJob], Awaitable[None]]) -> int:
        """A folder's file jobs: the backend's batch copy if it has one, else ``each``, bounded."""
        batch = self.backend.copy_batch
        if batch is not None:
            return await batch(jobs, self.progress)
        return await bounded(jobs, each, self.concurrency)

    async def _put_job(self, job: FileJob) -> None:
        await self.put_file(*job)

    async def _get_job(self, job: FileJob) -> None:
        await self.get_file(job[0], job[1], folder_exists=True)

    async def get_tree(self, rroot: str, lroot: str) -> int:
        """Download every file under ``rroot`` into ``lroot``, keeping relative paths.

        The listing streams: a full batch of names (a list page, ``LIST_BATCH`` names) starts
        its files at once, and memory holds a few batches whatever the number of files. Every
        key of a batch is checked before any file of that batch starts: a key with a ``..``
        segment, or one that would land outside ``lroot``, raises InvalidInputError and
        nothing escapes ``lroot``. A folder of fewer than ``LIST_BATCH`` files is listed whole
        before anything is written; in a longer one, files of earlier batches may already be
        complete (each written atomically) when a later batch holds such a key.
        """
        real_root = os.path.realpath(lroot)
        inside: dict[str, bool] = {}
        # On POSIX a plain key ("a/b.txt": no empty segment) lands at the root's prefix plus the
        # key, its folder at the prefix plus the key's head: string work instead of os.path's
        # join and dirname for every file, which cost as much as the copies of a local folder.
        prefix = os.path.join(lroot, "") if os.sep == "/" and os.altsep is None else None

        async def check(batch: list[tuple[str, str, int]]) -> list[FileJob]:
            jobs: list[FileJob] = []
            # The target is made with the first batch: a missing remote folder leaves nothing.
            new: list[str] = [] if inside else [lroot]
            for rpath, rel, _ in batch:
                check_relative_key(rel, "remote key", lroot)
                if prefix is not None and rel and rel[0] != "/" and "//" not in rel:
                    target = prefix + rel
                    head, _, _ = rel.rpartition("/")
                    directory = prefix + head if head else os.path.dirname(target)
                else:
                    target = os.path.join(lroot, *rel.split("/"))
                    directory = os.path.dirname(target)
                if directory not in inside:
                    parent = os.path.realpath(directory)
                    inside[directory] = os.path.commonpath([parent, real_root]) == real_root
                    new.append(directory)
                if not inside[directory]:
                    raise InvalidInputError(f"remote key {rel!r} would be written outside {lroot}")
                jobs.append((rpath, target, None))
            # Every new folder of the batch at once, rather than a look for each file: each look
            # lets go of the GIL, which costs a hand-off while obstore's threads wait for it.
            if new:
                await asyncio.to_thread(_make_folders, new)
            return jobs

        async def produce(deliver: Callable[[list[FileJob]], Awaitable[None]]) -> None:
            files = nbytes = 0
            held: list[FileJob] = []
            async for batch, full in self._listing(rroot):
                jobs = await check(batch)
                files += len(batch)
                nbytes += sum(size for _, _, size in batch)
                if held:
                    await deliver(held)
                    held = []
                if full:
                    await deliver(jobs)
                else:
                    # A short batch is most likely the last: its files wait for the listing's
                    # end, so a folder of one batch has its totals before any byte moves.
                    held = jobs
            if not files:  # an empty local folder: its copy is an empty folder
                await asyncio.to_thread(_make_folders, [lroot])
            if self.progress is not None:
                self.progress(0, 0, total_files=files, total_bytes=nbytes)
            if held:
                await deliver(held)

        batch = self.backend.copy_batch
        if batch is None:
            return await self._run_streamed(produce)
        copied = 0

        async def copy(jobs: list[FileJob]) -> None:
            nonlocal copied
            copied += await batch(jobs, self.progress)

        await produce(copy)
        return copied

    async def _run_streamed(
        self, produce: Callable[[Callable[[list[FileJob]], Awaitable[None]]], Awaitable[None]]
    ) -> int:
        """Download the jobs ``produce`` hands over, at most ``concurrency`` at a time.

        At most twice ``concurrency`` jobs wait, so the listing pauses while downloads catch
        up. The first failure, of the listing or of a file, stops new work (and the listing);
        the downloads in flight finish, then it is raised.
        """
        workers = max(1, self.concurrency)
        # The queue itself is unbounded so that handing over the end markers never blocks;
        # the semaphore bounds what waits in it.
        room = asyncio.Semaphore(workers * 2)
        queue: asyncio.Queue[FileJob | None] = asyncio.Queue()
        done = 0
        failure: BaseException | None = None

        async def put(jobs: list[FileJob]) -> None:
            for job in jobs:
                await room.acquire()
                queue.put_nowait(job)

        async def feed() -> None:
            nonlocal failure
            try:
                await produce(put)
            except BaseException as exc:
                failure = failure or exc
            finally:
                for _ in range(workers):
                    queue.put_nowait(None)

        feeding = asyncio.ensure_future(feed())

        async def worker() -> None:
            nonlocal done, failure
            while (job := await queue.get()) is not None:
                room.release()
                if failure is not None:
                    continue
                try:
                    await self._get_job(job)
                except BaseException as exc:
                    failure = failure or exc
                    feeding.cancel()
                    continue
                done += 1

        await asyncio.gather(feeding, *(worker() for _ in range(workers)))
        if failure is not None:
            raise failure
        return done

    async def _listing(self, rroot: str) -> AsyncIterator[tuple[list[tuple[str, str, int]], bool]]:
        """Batches of (path, relative key, size) under ``rroot``, each with whether it was full.

        A full batch (``LIST_BATCH`` names from the backend) is likely followed by more.
        Refuses a missing root. Each batch is fetched with the retry budget; a listing that
        fails part-way resumes after the last name received.
        """
        backend = self.backend
        root = backend.root_name(rroot)
        sizes = self.progress is not None
        sep = backend.sep
        after: str | None = None
        pages: AsyncIterator[list[tuple[str, int]]] | None = None
        empty = True

        async def next_page() -> list[tuple[str, int]] | None:
            nonlocal pages
            if pages is None:
                pages = backend.list_batches(rroot, sizes, after)
            try:
                return await anext(pages)
            except StopAsyncIteration:
                return None
            except BaseException:
                pages = None  # the next attempt starts a new listing after ``after``
                raise

        while (found := await self.retry.call(next_page, f"listing of {rroot}")) is not None:
            if found:
                after = found[-1][0]
            batch: list[tuple[str, str, int]] = []
            for name, size in found:
                if name == root:
                    batch.append((name, name.rsplit(sep, 1)[-1], size))
                elif name.startswith(root + sep):
                    batch.append((name, name[len(root) + 1 :].replace(sep, "/"), size))
            if batch:
                empty = False
                yield batch, len(found) >= _backend.LIST_BATCH
        # An empty folder exists only on the local disk: object stores have no empty prefixes.
        if empty and not await self.exists(rroot):
            raise DataNotFoundError(f"{rroot} does not exist or holds no files")


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


def _sized(files: Iterable[tuple[str, str]], batch: int = 256) -> Iterator[FileJob]:
    """``files`` with each one's size (``None`` if it cannot be read), looked up a batch at a time.

    Each look lets go of the GIL. While obstore's threads wait to hand results back, every
    such release costs a hand-off of tens of microseconds; a batch in a row pays for about one.
    """
    iterator = iter(files)
    while chunk := list(itertools.islice(iterator, batch)):
        yield from [(path, rel, _size_or_none(path)) for path, rel in chunk]


def _size_or_none(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None  # the upload itself will report what is wrong


def _make_folders(folders: list[str]) -> None:
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
