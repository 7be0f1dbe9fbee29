"""GCS transfers on persist's own gcsfs instance: one request per file each way."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

__all__ = [
    "SESSION_CLEANUP_TIMEOUT",
    "SIMPLE_UPLOAD_LIMIT",
    "STREAM_PIECE",
    "download",
    "streamed_upload",
    "use_streamed_upload",
]

SIMPLE_UPLOAD_LIMIT = 5 * 1024 * 1024
"""Below this gcsfs sends a file in one simple upload already (its own threshold)."""

STREAM_PIECE = 1024 * 1024
"""Bytes read from the file at a time while the request body streams."""

SESSION_CLEANUP_TIMEOUT = 10.0
"""Seconds the cancellation of a failed upload's session may take."""


async def download(fs: Any, rpath: str, lpath: str, kwargs: dict[str, Any]) -> None:
    """Download ``rpath`` into the new local file ``lpath`` with one streamed GET.

    Recent gcsfs's ``_get_file`` first asks for the object's metadata (and its bucket's type),
    then, for files of 100 MB or more, fetches four ranges at once through a prefetcher that
    holds up to 128 MiB of them in memory. One stream was as fast or faster, with less CPU time
    and without the prefetcher's memory (benchmarks/README.md, "Decisions measured"), and each
    file of a folder saves the metadata request. gcsfs's own single-stream method does the GET.
    Older gcsfs (2024.6: no ``_get_file_concurrent``) has no lookup or prefetcher: its
    ``_get_file`` is that one streamed GET already, and its ``_get_file_request`` wants a URL
    where recent ones take the path, so ``_get_file`` serves it.
    """
    if not hasattr(fs, "_get_file_concurrent"):
        await fs._get_file(rpath, lpath, **kwargs)
        return
    await fs._get_file_request(rpath, lpath, **kwargs)


def use_streamed_upload(fs: Any, size: int, put_kwargs: dict[str, Any]) -> bool:
    """Whether ``fs`` (gcsfs) should upload a file of ``size`` bytes with :func:`streamed_upload`.

    Only for files gcsfs would send in resumable chunks, without put arguments (the plan has
    none unless the caller gave some or ``generic.write_chunk_size_bytes`` was set: then gcsfs
    uploads in chunks of that size), and without gcsfs's consistency checks (which hash the
    chunks gcsfs sends itself).
    """
    return (
        size >= SIMPLE_UPLOAD_LIMIT
        and not put_kwargs
        and getattr(fs, "consistency", "none") in ("none", None)
        and hasattr(fs, "_call")
    )


async def streamed_upload(
    fs: Any, lpath: str, rpath: str, size: int, metadata: dict[str, str] | None, callback: Any
) -> None:
    """Upload ``lpath`` to ``rpath`` as one resumable session with one streamed request.

    gcsfs sends a large file as a resumable upload in ``chunksize`` pieces, one request after
    another, each read whole into memory first. Here the session gets the whole file in a
    single request whose body is read from the file as it is sent: one round trip instead of
    one per chunk, and memory that does not grow with the chunk size. (Servers that redo work
    per chunk, such as fake-gcs-server, which re-hashes everything received so far on each
    one, gain most.) The request goes through gcsfs's own ``_call``, so its session,
    credentials, timeouts and error mapping apply; a failure ends the attempt, and persist's
    retry budget starts a new session. The body goes with ``PUT``, as GCS documents for a
    session's data (gcsfs sends its chunks with ``POST``).

    Args:
        fs: persist's gcsfs instance.
        lpath: local file.
        rpath: ``bucket/key``.
        size: the file's size in bytes.
        metadata: custom metadata for the object, or ``None``.
        callback: fsspec-style progress callback, or ``None``.
    """
    bucket, key, generation = fs.split_path(rpath)
    if generation:
        raise ValueError("Cannot write to specific object generation")
    zonal = getattr(fs, "_is_zonal_bucket", None)
    if zonal is not None and await zonal(bucket):
        # Zonal buckets take appends over gRPC, which only gcsfs's own path speaks.
        await fs._put_file(lpath, rpath, metadata=metadata, callback=callback)
        return
    content_type = mimetypes.guess_type(lpath)[0] or "application/octet-stream"
    body: dict[str, Any] = {"name": key}
    if metadata:
        body["metadata"] = metadata
    headers, _ = await fs._call(
        "POST",
        f"{fs._location}/upload/storage/v1/b/{quote(bucket)}/o?name={quote(key)}",
        uploadType="resumable",
        json=body,
        headers={"X-Upload-Content-Type": content_type},
    )
    location = headers["Location"]
    if callback is not None:
        callback.set_size(size)
    head = {
        "Content-Range": f"bytes 0-{size - 1}/{size}",
        "Content-Type": content_type,
        "Content-Length": str(size),
    }
    try:
        await fs._call("PUT", location, headers=head, data=_read_pieces(lpath, size, callback))
    except Exception:
        # As gcsfs does: end the session so the server drops what it received (an unfinished
        # session also expires by itself, so a clean-up that fails or stalls is let go).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fs._call("DELETE", location), SESSION_CLEANUP_TIMEOUT)
        raise
    invalidate = getattr(fs, "_write_file_cache_update", None)
    if invalidate is not None:
        await invalidate(rpath)
    else:
        fs.invalidate_cache(fs._parent(rpath))


async def _read_pieces(lpath: str, size: int, callback: Any) -> AsyncIterator[bytes]:
    """The file's bytes in :data:`STREAM_PIECE` pieces, read off the event loop."""
    sent = 0
    with open(lpath, "rb") as handle:
        while sent < size:
            piece = await asyncio.to_thread(handle.read, min(STREAM_PIECE, size - sent))
            if not piece:
                raise OSError(f"{lpath} shrank to {sent} bytes while it was uploaded (was {size})")
            sent += len(piece)
            if callback is not None:
                callback.absolute_update(sent)
            yield piece
