"""Filesystems, the I/O loop, and retries with backoff (what is retryable: ``is_retryable``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from persist._text import exception_chain
from persist.errors import PersistError

if TYPE_CHECKING:
    import concurrent.futures

    from fsspec import AbstractFileSystem

__all__ = [
    "RetryPolicy",
    "build_filesystem",
    "io_loop",
    "is_retryable",
    "run_async",
    "run_sync",
    "s3_session",
    "timeout_kind",
]

logger = logging.getLogger("persist")

T = TypeVar("T")

_FS_CACHE: dict[str, AbstractFileSystem] = {}
_FS_LOCK = threading.Lock()


def build_filesystem(protocol: str, options: dict[str, Any], *, tune: dict[str, Any]) -> AbstractFileSystem:
    """A filesystem for ``protocol``, built once per (protocol, options, tuning) and then reused.

    ``tune`` holds attributes persist sets on its own instances (such as s3fs's ``retries``);
    the instance is kept out of fsspec's shared cache so that callers who build the same
    filesystem themselves never see those changes.
    """
    key = json.dumps([protocol, options, tune], sort_keys=True, default=repr)
    with _FS_LOCK:
        fs = _FS_CACHE.get(key)
        if fs is None:
            fs = _instantiate(protocol, options, tune)
            _FS_CACHE[key] = fs
        return fs


def _instantiate(protocol: str, options: dict[str, Any], tune: dict[str, Any]) -> AbstractFileSystem:
    import fsspec

    if protocol in ("gs", "gcs") and options.get("endpoint_url"):
        # gcsfs otherwise asks a gRPC control API on the emulator's host for each bucket's type,
        # and each failed lookup costs about a minute. Only done for non-Google endpoints.
        import os

        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise PersistError(f"cannot open {protocol}:// paths: {exc}") from exc
    extra = {"skip_instance_cache": True} if tune else {}
    fs = cls(**options, **extra)
    for name, value in tune.items():
        if name == AZURE_CLIENT_OPTIONS:
            _rebuild_azure_client(fs, value)
        elif name == GCS_SINGLE_ATTEMPT:
            _single_attempt_gcsfs(fs)
        else:
            setattr(fs, name, value)
    return fs


AZURE_CLIENT_OPTIONS = "azure_client_options"
"""A ``tune`` entry: azure-core options for the blob client of persist's own adlfs instance."""


def _rebuild_azure_client(fs: Any, client_options: dict[str, Any]) -> None:
    """Give an adlfs filesystem a blob client built with ``client_options``.

    adlfs builds its client with azure-core's defaults (300 s connect and read limits, and
    the storage SDK's own retries with 15 s and longer back-off) and passes its timeout
    arguments only to blob reads and writes, not to listings or existence checks. The same
    account URL and credential get a client whose every request has persist's limits and a
    single attempt, so persist's retry policy is the only one.
    """
    from azure.storage.blob.aio import BlobServiceClient

    old = fs.service_client
    fs.service_client = BlobServiceClient(account_url=old.url, credential=old.credential, **client_options)


GCS_SINGLE_ATTEMPT = "gcs_single_attempt"
"""A ``tune`` entry: persist's own gcsfs instance makes one attempt per request."""

_GCSFS_RETRYING = ("_request", "_get_file_request", "_get_file_concurrent")
"""gcsfs methods wrapped in its ``retry_request`` decorator (6 attempts, fixed at import)."""


def _single_attempt_gcsfs(fs: Any) -> None:
    """Make a gcsfs instance send each request once, so persist's retry budget is the only one.

    gcsfs wraps its request methods in a retry decorator whose six attempts (with up to 32 s of
    back-off between them) are fixed when gcsfs is imported, and nests them for downloads: an
    endpoint that stalls took about 70 requests and 270 s to give up on with 1 s timeouts.
    gcsfs has no option to turn it off, so this instance gets the undecorated methods (the
    decorator library keeps them as ``__wrapped__``); other gcsfs instances are unchanged. A
    gcsfs without them keeps its own retries.
    """
    for name in _GCSFS_RETRYING:
        method = getattr(type(fs), name, None)
        plain = getattr(method, "__wrapped__", None)
        if plain is not None:
            setattr(fs, name, plain.__get__(fs, type(fs)))


_S3_SESSION: Any = None


def s3_session() -> Any:
    """The aiobotocore session of persist's own s3fs instances: no ``Expect: 100-continue``.

    botocore asks for ``100 Continue`` before every upload body, and aiohttp waits for that
    answer with no time limit (its ``sock_read`` limit starts only after it): an endpoint that
    accepts the connection and never answers would hang an upload forever, whatever
    ``generic.read_timeout`` says. Without the header the body goes at once and the read
    limit applies; the cost is sending a body that a refusing server would have declined.
    """
    global _S3_SESSION
    with _FS_LOCK:
        if _S3_SESSION is None:
            from aiobotocore.session import AioSession

            session = AioSession()
            session.register("before-call.s3", _drop_expect_header)
            _S3_SESSION = session
        return _S3_SESSION


def _drop_expect_header(params: dict[str, Any], **kwargs: Any) -> None:
    params.get("headers", {}).pop("Expect", None)


def _forget_after_fork() -> None:
    """In a forked child: drop the parent's filesystems and take a fresh lock.

    An inherited filesystem is bound to the parent's I/O loop, whose thread the child does not
    have (fsspec starts a new loop in the child, and its instances then fail with "attached to
    a different loop"), and the lock may have been held by a parent thread at the fork.
    """
    global _FS_LOCK, _S3_SESSION
    _FS_LOCK = threading.Lock()
    _FS_CACHE.clear()
    _S3_SESSION = None
    # fsspec forgets its I/O loop in a forked child itself only since 2025 (filesystem_spec
    # #1790), and even then keeps the lock that guards the loop's creation (its hook resets a
    # misnamed global), which a parent thread may hold: do both here, for every fsspec
    # persist accepts. The next get_loop() starts a new loop thread in the child.
    import sys

    asyn: Any = sys.modules.get("fsspec.asyn")
    if asyn is not None:
        asyn.loop[0] = None
        asyn.iothread[0] = None
        asyn._lock = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def clear_filesystem_cache() -> None:
    """Forget every filesystem and obstore store built so far (tests, or after rotating keys)."""
    with _FS_LOCK:
        _FS_CACHE.clear()
    import sys

    obstore_engine = sys.modules.get("persist._obstore")
    if obstore_engine is not None:
        obstore_engine.clear_store_cache()


# --- the I/O loop ---------------------------------------------------------------------------


def io_loop() -> asyncio.AbstractEventLoop:
    """The event loop, on its own thread, where persist runs every transfer (fsspec's)."""
    import fsspec.asyn

    loop: asyncio.AbstractEventLoop = fsspec.asyn.get_loop()
    return loop


def _on_io_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


# Seconds a cancelled transfer gets to clean up (see run_sync); more than the abort of a
# multipart upload needs (``_transfer.ABORT_TIMEOUT``).
_CLEAN_UP_TIMEOUT = 10.0


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on the I/O loop and wait for it, from plain code, threads or a running loop.

    On an interrupt (Ctrl-C) the transfer is cancelled and given a moment to clean up its
    temporary files before the interrupt propagates.
    """
    loop = io_loop()
    if _on_io_loop(loop):
        raise RuntimeError("persist's sync methods cannot run on its own I/O loop; use the async_ ones")
    coro = make()
    future: concurrent.futures.Future[T] | None = None
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result()
    except BaseException:
        # Cancelling the concurrent future would return at once, and an interrupt inside
        # run_coroutine_threadsafe leaves no future at all: cancel the task on the loop instead
        # and wait for its clean-up. The original exception is the one to raise.
        if future is None or not future.done():
            with contextlib.suppress(BaseException):
                asyncio.run_coroutine_threadsafe(_abandon(coro), loop).result(timeout=_CLEAN_UP_TIMEOUT)
        raise


async def _abandon(coro: Coroutine[Any, Any, Any]) -> None:
    """Cancel the task running ``coro`` on this loop and wait for it; close ``coro`` if it has none."""
    for task in asyncio.all_tasks():
        if task.get_coro() is coro:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            return
    coro.close()


async def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await a coroutine that runs on the I/O loop, from any event loop, without blocking it."""
    loop = io_loop()
    if _on_io_loop(loop):
        return await make()
    coro = make()
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        # Shielded: cancelling the awaiting task would otherwise also cancel the concurrent
        # future, which cancels the task on the I/O loop and returns at once, while that task
        # still cleans up (aborting a multipart upload, removing a temporary file), and
        # _abandon's own cancel would then cut that clean-up short. Instead the task is
        # cancelled once, below, and its clean-up awaited: the caller's cancellation means done.
        return await asyncio.shield(asyncio.wrap_future(future))
    except asyncio.CancelledError:
        if not future.done():
            cleanup = asyncio.run_coroutine_threadsafe(_abandon(coro), loop)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.wrap_future(cleanup), _CLEAN_UP_TIMEOUT)
        raise


# --- retries --------------------------------------------------------------------------------

_THROTTLE_PATTERNS = (
    "slowdown",
    "slow down",
    "reduce your request rate",
    "service unavailable",
    "serverbusy",
    "server busy",
    "toomanyrequests",
    "too many requests",
    "requestlimitexceeded",
)
_RESET_PATTERNS = (
    "connection reset",
    "server disconnected",
    "connection aborted",
    "connection was closed",
    "connectionclosederror",
    "remote end closed connection",
    "connection broken",
    "incompleteread",
    "payload is not completed",
    "response payload is not completed",
)


def _status(*codes: str) -> re.Pattern[str]:
    """An HTTP status code standing alone, as in ``(503)``, ``503 Service Unavailable``, ``HTTP 429``."""
    # The same digits inside a path, key, port or longer number ("/runs/run-1503.csv", ":4290")
    # are not a status: matching them would retry, or misreport, errors that merely mention one.
    return re.compile(rf"(?<![\w./\\:-])(?:{'|'.join(codes)})(?![\w/\\-]|\.\w)")


_THROTTLE_STATUS = _status("429", "503")


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".lower()


# Timeouts of each client, by class name so that no SDK has to be imported to classify them:
# botocore, aiohttp (gcsfs, s3fs, adlfs's transport) and azure-core.
_CONNECT_TIMEOUTS = frozenset({"ConnectTimeoutError", "ConnectionTimeoutError", "ServiceRequestTimeoutError"})
_READ_TIMEOUTS = frozenset(
    {"ReadTimeoutError", "ServerTimeoutError", "SocketTimeoutError", "ServiceResponseTimeoutError"}
)
# obstore (reqwest) says only this in its GenericError text; the last resort, as in section 6.
_TIMEOUT_TEXT = re.compile(r"timed out|operation timeout|\btimeout\b")
_CONNECT_TEXT = re.compile(r"\bconnect(?:ing)?\b|connect timeout|tcp connect")


def timeout_kind(exc: BaseException) -> Literal["connect", "read"] | None:
    """Whether ``exc`` is a request that timed out, and in which phase; None when it is not."""
    for err in exception_chain(exc):
        if isinstance(err, PersistError):
            return None
        names = {cls.__name__ for cls in type(err).__mro__}
        if names & _CONNECT_TIMEOUTS:
            return "connect"
        if names & _READ_TIMEOUTS or isinstance(err, TimeoutError):
            return "read"
    for err in exception_chain(exc):
        text = str(err).lower()
        if _TIMEOUT_TEXT.search(text):
            return "connect" if _CONNECT_TEXT.search(text) else "read"
    return None


def is_retryable(exc: BaseException) -> bool:
    """Throttling (SlowDown, HTTP 503/429), dropped connections and timeouts; nothing else."""
    if timeout_kind(exc) is not None:
        return True
    for err in exception_chain(exc):
        if isinstance(err, PersistError):
            return False
        if isinstance(err, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return True
        text = _text(err)
        if any(p in text for p in _THROTTLE_PATTERNS + _RESET_PATTERNS) or _THROTTLE_STATUS.search(text):
            return True
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """How persist retries one request-level operation.

    Retried: throttling (S3 ``SlowDown``, HTTP 503 and 429, "Please reduce your request rate",
    Azure ``ServerBusy``), dropped connections (resets, a server closing mid-response) and
    timeouts (``generic.connect_timeout`` and ``generic.read_timeout``): a timed-out request is
    one attempt. Every other error is raised at once. ``retries`` counts retries after the first attempt;
    the wait before retry *n* (from 0) is ``backoff * 2**n`` scaled by a random factor in
    [0.5, 1.5), so clients that failed together do not retry together.
    """

    retries: int = 3
    backoff: float = 5.0
    max_delay: float = 120.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        base = min(self.backoff * 2.0**attempt, self.max_delay)
        return base * (0.5 + random.random())  # noqa: S311 - jitter, not cryptography

    async def call(self, make: Callable[[], Awaitable[T]], what: str) -> T:
        """Await ``make()``, retrying it as the policy says."""
        attempt = 0
        while True:
            try:
                return await make()
            except Exception as exc:
                if attempt >= self.retries or not is_retryable(exc):
                    raise
                wait = self.delay(attempt)
                logger.info(
                    "retrying %s in %.2fs after %s (retry %d of %d)",
                    what,
                    wait,
                    type(exc).__name__,
                    attempt + 1,
                    self.retries,
                )
                attempt += 1
                await asyncio.sleep(wait)

    def call_sync(self, make: Callable[[], T], what: str) -> T:
        """``make()`` from a blocking caller, retried by the same rules as :meth:`call`."""
        attempt = 0
        while True:
            try:
                return make()
            except Exception as exc:
                if attempt >= self.retries or not is_retryable(exc):
                    raise
                wait = self.delay(attempt)
                logger.info(
                    "retrying %s in %.2fs after %s (retry %d of %d)",
                    what,
                    wait,
                    type(exc).__name__,
                    attempt + 1,
                    self.retries,
                )
                attempt += 1
                time.sleep(wait)
