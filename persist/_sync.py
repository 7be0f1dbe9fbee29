"""The sync fast path: small obstore calls made from the caller's own thread.

A sync provider method normally hands a coroutine to persist's I/O loop thread and waits for
it (``_fs.run_sync``). For a single small request that hand-off, the asyncio machinery
around obstore's awaitable and a plan made per call cost more CPU than the request itself: 0.9
ms per ``exists`` on moto, where obstore's own sync ``head`` took 0.3 (benchmarks/README.md,
"Small-call latency"). obstore has blocking forms of the same calls,
which run the request on its Rust runtime and release the GIL while they wait, so the sync
methods call those directly when the obstore engine serves the path.

Everything else is the transfer core's, unchanged: the same stores (``ObstoreBackend``), the
one retry budget (``RetryPolicy.call_sync``: same rules, same backoff), the same timeouts
(on the store's client), atomic local writes (a temporary file renamed into place) and the
same errors (``FileFailedError`` for a file, classified at the provider's boundary). Only
what one request can do in one attempt goes this way: uploads that fit in one PUT (so a
failure leaves no multipart upload to abort), downloads whose object fits in one piece;
a larger download streams on the I/O loop from the same response; larger uploads, folders
and calls with a progress listener take the I/O loop from the start.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from persist._backend import MULTIPART_FLOOR, write_file
from persist._errors import FileFailedError, Kind, classify
from persist._local import CleanedUpOnFailure, ensure_folder, temp_path

if TYPE_CHECKING:
    from persist._fs import RetryPolicy
    from persist._obstore import ObstoreBackend

__all__ = ["SyncObstore", "on_io_loop_thread"]


def on_io_loop_thread() -> bool:
    """Whether this thread runs persist's I/O loop (where sync methods must refuse to block).

    Unlike ``_fs.run_sync``, it never starts the loop: the fast path does not need one.
    """
    asyn: Any = sys.modules.get("fsspec.asyn")
    if asyn is None or asyn.loop[0] is None:
        return False
    try:
        return asyncio.get_running_loop() is asyn.loop[0]
    except RuntimeError:
        return False


class SyncObstore:
    """Blocking single-request operations on an ``ObstoreBackend``'s stores, retried by ``retry``."""

    def __init__(self, backend: ObstoreBackend, retry: RetryPolicy, part_size: int) -> None:
        self._backend = backend
        self._retry = retry
        # The largest upload that is always one PUT: obstore splits a body larger than a part,
        # and S3 would need parts of at least MULTIPART_FLOOR anyway.
        self.single_put_limit = min(part_size, MULTIPART_FLOOR)

    def exists(self, path: str) -> bool:
        """Whether an object, or any object under the prefix, exists at ``path`` (retried)."""
        return self._retry.call_sync(lambda: self._exists_once(path), f"lookup of {path}")

    def _exists_once(self, path: str) -> bool:
        import obstore

        bucket, key = self._backend._split(path)
        store = self._backend._store(bucket)
        prefix = key.rstrip("/")
        if prefix:
            try:
                obstore.head(store, prefix)
                return True
            except FileNotFoundError:
                pass
        # A prefix with objects under it exists too: ask for one name (as ObstoreBackend.exists).
        try:
            for batch in obstore.list(store, prefix=prefix or None, chunk_size=1):
                if batch or not prefix:
                    return True
        except Exception as exc:
            if classify(exc) is Kind.NOT_FOUND:  # no such bucket
                return False
            raise
        return not prefix  # an empty bucket exists

    def put(self, source: bytes | bytearray | str, rpath: str) -> None:
        """Store ``source`` (bytes, or the path of a local file) at ``rpath`` in one PUT, retried.

        The caller checks the size against ``single_put_limit``. A failure raises
        FileFailedError naming ``source`` (a file) or ``rpath``.
        """
        import obstore

        bucket, key = self._backend._split(rpath)
        store = self._backend._store(bucket)
        body: Any = Path(source) if isinstance(source, str) else source
        attributes = self._backend._attributes

        def attempt() -> None:
            obstore.put(store, key, body, attributes=attributes, use_multipart=False)

        try:
            self._retry.call_sync(attempt, f"upload of {source if isinstance(source, str) else rpath}")
        except Exception as exc:
            raise FileFailedError(source if isinstance(source, str) else "<bytes>", rpath) from exc

    def get(self, rpath: str, lpath: str) -> None:
        """Download ``rpath`` into ``lpath`` atomically (a temporary file renamed into place), retried.

        A body of one piece (``_obstore._DOWNLOAD_CHUNK``) is read here; a larger one streams
        on the I/O loop from the same response (``ObstoreBackend.write_result``), where the
        next piece is fetched while the last is written. A failure leaves any existing
        ``lpath`` untouched and no temporary file behind.
        """
        import obstore

        from persist._fs import run_sync
        from persist._obstore import _DOWNLOAD_CHUNK

        bucket, key = self._backend._split(rpath)
        store = self._backend._store(bucket)
        directory, name = os.path.split(lpath)
        directory = directory or os.curdir
        ensure_folder(directory)
        tmp = temp_path(directory, name)

        def attempt() -> None:
            result = obstore.get(store, key)
            if int(result.meta["size"]) > _DOWNLOAD_CHUNK:
                run_sync(lambda: self._backend.write_result(result, tmp, None))
                return
            write_file(tmp, result.bytes())

        with CleanedUpOnFailure(tmp, rpath, lpath):
            self._retry.call_sync(attempt, f"download of {rpath}")
            os.replace(tmp, lpath)
