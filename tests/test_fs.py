"""Retry policy, error classification, redaction and the sync/async bridge in persist._fs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import signal
import sys
import threading
import time
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectTimeoutError as BotoConnectTimeout
from botocore.exceptions import ReadTimeoutError as BotoReadTimeout

from persist._fs import (
    RetryPolicy,
    is_retryable,
    run_async,
    run_sync,
    timeout_kind,
)
from persist._obstore import wait_for_handovers
from persist._text import MASK, backend_reason, redact
from persist.errors import DataNotFoundError, UploadError


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` as raised by ``raise outer from inner``."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


def during(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner`` (implicit ``__context__``)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is what is under test
    except BaseException as exc:
        return exc


def client_error(code: str, message: str, operation: str = "PutObject") -> ClientError:
    """A botocore ClientError as the S3 API reports ``code``."""
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def azure_error(
    code: str, message: str, kind: type[HttpResponseError] = HttpResponseError
) -> HttpResponseError:
    """An Azure storage error shaped as azure-storage-blob raises it: code in the text and on the error."""
    error = kind(message=f"{message}\nRequestId:0\nTime:2030-01-01T00:00:00Z\nErrorCode:{code}")
    error.error_code = code  # type: ignore[attr-defined]
    return error


RETRYABLE: dict[str, Any] = {
    "argnames": "exc",
    "argvalues": [
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionAbortedError(),
        BrokenPipeError(),
        OSError("Please reduce your request rate."),
        RuntimeError("503 Service Unavailable"),
        RuntimeError("HTTP 429 Too Many Requests"),
        client_error("SlowDown", "Please reduce your request rate."),
        client_error("503", "Service Unavailable"),
        OSError("Server disconnected"),
        RuntimeError("Response payload is not completed"),
        azure_error("ServerBusy", "The server is busy."),
        chained(RuntimeError("upload failed"), ConnectionResetError()),
        chained(ValueError("wrapped"), client_error("SlowDown", "Please reduce your request rate.")),
        during(RuntimeError("while handling"), OSError("Please reduce your request rate")),
    ],
    "ids": [
        "connection-reset",
        "connection-aborted",
        "broken-pipe",
        "reduce-request-rate",
        "503-text",
        "429-text",
        "s3-slowdown",
        "s3-503",
        "server-disconnected",
        "payload-not-completed",
        "azure-server-busy",
        "chained-reset",
        "chained-slowdown",
        "context-throttle",
    ],
}

NOT_RETRYABLE: dict[str, Any] = {
    "argnames": "exc",
    "argvalues": [
        PermissionError("denied"),
        ValueError("bad value"),
        FileNotFoundError(2, "No such file or directory", "/data/x.csv"),
        FileNotFoundError(2, "No such file or directory", "/data/run-1503.csv"),
        OSError("cannot read /runs/429/part-0.parquet"),
        RuntimeError("listening on 127.0.0.1:5030"),
        client_error("AccessDenied", "Access Denied"),
        client_error("NoSuchKey", "The specified key does not exist."),
        UploadError("503 Service Unavailable"),
        chained(RuntimeError("upload failed"), PermissionError("denied")),
    ],
    "ids": [
        "permission",
        "value",
        "not-found",
        "not-found-path-with-1503",
        "path-with-429-segment",
        "port-5030",
        "s3-access-denied",
        "s3-no-such-key",
        "persist-error",
        "chained-permission",
    ],
}


TIMEOUTS: dict[str, Any] = {
    "argnames": ("exc", "kind"),
    "argvalues": [
        (TimeoutError(), "read"),
        (TimeoutError("timed out"), "read"),
        (BotoConnectTimeout(endpoint_url="http://h:1/b"), "connect"),
        (BotoReadTimeout(endpoint_url="http://h:1/b"), "read"),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host http://h:1"), "connect"),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "read"),
        (ServiceRequestTimeoutError("Timeout on connect"), "connect"),
        (ServiceResponseTimeoutError("Timeout on reading"), "read"),
        (
            RuntimeError(
                "Generic S3 error: error sending request for url (http://h:1/b/k): operation timed out"
            ),
            "read",
        ),
        (chained(RuntimeError("upload failed"), BotoReadTimeout(endpoint_url="http://h:1/b")), "read"),
    ],
    "ids": [
        "asyncio",
        "builtin",
        "botocore-connect",
        "botocore-read",
        "aiohttp-connect",
        "aiohttp-read",
        "azure-connect",
        "azure-read",
        "obstore-text",
        "chained",
    ],
}


class TestIsRetryable:
    @pytest.mark.parametrize(**RETRYABLE)
    def test_retryable(self, exc: BaseException) -> None:
        """Throttling and dropped connections are retryable, also when chained."""
        assert is_retryable(exc)

    @pytest.mark.parametrize(**NOT_RETRYABLE)
    def test_not_retryable(self, exc: BaseException) -> None:
        """Every other error is not, even when its text holds the digits of a status."""
        assert not is_retryable(exc)

    def test_persist_error_in_chain_stops_the_search(self) -> None:
        """An error persist raised on purpose is final, whatever caused it."""
        assert not is_retryable(chained(DataNotFoundError("gone"), ConnectionResetError()))

    @pytest.mark.parametrize(**TIMEOUTS)
    def test_timeouts_are_retryable(self, exc: BaseException, kind: str) -> None:
        """A timed-out request is one attempt of the retry budget, on every client."""
        assert is_retryable(exc)
        assert timeout_kind(exc) == kind


class TestRetryDelay:
    def test_factor_half_at_lowest_jitter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the lowest jitter the delay is half of ``backoff * 2**n``."""
        monkeypatch.setattr(random, "random", lambda: 0.0)
        policy = RetryPolicy(retries=5, backoff=1.0, max_delay=1000.0)
        assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]

    def test_grows_exponentially(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the middle jitter each delay doubles: ``backoff * 2**n``."""
        monkeypatch.setattr(random, "random", lambda: 0.5)
        policy = RetryPolicy(retries=5, backoff=0.25, max_delay=1000.0)
        assert [policy.delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 4.0]

    @pytest.mark.parametrize("attempt", range(8))
    def test_jitter_stays_in_range(self, attempt: int) -> None:
        """Each delay is in [0.5, 1.5) x ``min(backoff * 2**n, max_delay)``."""
        policy = RetryPolicy(retries=8, backoff=0.5, max_delay=10.0)
        base = min(0.5 * 2**attempt, 10.0)
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0.5 * base <= d < 1.5 * base for d in delays)

    def test_jitter_varies(self) -> None:
        """Delays for the same attempt differ, so clients that failed together spread out."""
        policy = RetryPolicy(retries=3, backoff=1.0)
        assert len({policy.delay(2) for _ in range(20)}) > 1

    def test_capped_by_max_delay(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past the cap, the base delay is ``max_delay`` (then jittered)."""
        monkeypatch.setattr(random, "random", lambda: 0.5)
        policy = RetryPolicy(retries=30, backoff=5.0, max_delay=120.0)
        assert policy.delay(20) == 120.0

    def test_zero_backoff_means_no_wait(self) -> None:
        """``backoff=0`` retries immediately."""
        policy = RetryPolicy(retries=3, backoff=0.0)
        assert [policy.delay(n) for n in range(4)] == [0.0, 0.0, 0.0, 0.0]


class Failing:
    """An operation that raises ``exc`` for its first ``failures`` calls, then returns ``"ok"``."""

    def __init__(self, exc: BaseException, failures: int = 10**6) -> None:
        self.exc = exc
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "ok"


class TestRetryCall:
    @pytest.mark.parametrize(
        "exc",
        [
            ConnectionResetError(104, "Connection reset by peer"),
            OSError("Please reduce your request rate."),
            RuntimeError("503 Service Unavailable"),
        ],
        ids=["reset", "reduce-rate", "503"],
    )
    def test_retries_then_raises(self, exc: BaseException) -> None:
        """A retryable error is retried exactly ``retries`` times, then raised."""
        operation = Failing(exc)
        with pytest.raises(type(exc)):
            asyncio.run(RetryPolicy(retries=3, backoff=0.0).call(operation, "test"))
        assert operation.calls == 4

    @pytest.mark.parametrize(
        "exc",
        [PermissionError("denied"), ValueError("bad"), FileNotFoundError(2, "No such file", "/x/1503.csv")],
        ids=["permission", "value", "not-found-with-1503"],
    )
    def test_does_not_retry_other_errors(self, exc: BaseException) -> None:
        """A non-retryable error is raised after one call."""
        operation = Failing(exc)
        with pytest.raises(type(exc)):
            asyncio.run(RetryPolicy(retries=3, backoff=0.0).call(operation, "test"))
        assert operation.calls == 1

    def test_returns_after_transient_failures(self) -> None:
        """Two throttled calls, then success: the result comes back after three calls."""
        operation = Failing(ConnectionResetError(), failures=2)
        result = asyncio.run(RetryPolicy(retries=3, backoff=0.0).call(operation, "test"))
        assert (result, operation.calls) == ("ok", 3)

    def test_zero_retries_means_one_attempt(self) -> None:
        """``retries=0`` makes exactly one attempt."""
        operation = Failing(ConnectionResetError())
        with pytest.raises(ConnectionResetError):
            asyncio.run(RetryPolicy(retries=0, backoff=0.0).call(operation, "test"))
        assert operation.calls == 1

    def test_raises_the_last_error(self) -> None:
        """After the budget is spent, the error raised is the operation's own."""
        exc = OSError("Please reduce your request rate.")
        with pytest.raises(OSError, match="reduce your request rate") as excinfo:
            asyncio.run(RetryPolicy(retries=1, backoff=0.0).call(Failing(exc), "test"))
        assert excinfo.value is exc


class TestRedact:
    def test_password_in_url(self) -> None:
        """The password of a URL's user-info is masked; user, host and path are kept."""
        text = "cannot reach http://admin:pa55word@minio.local:9000/bucket/key"
        assert redact(text, []) == f"cannot reach http://admin:{MASK}@minio.local:9000/bucket/key"

    def test_azure_container_at_account_is_not_a_password(self) -> None:
        """``abfs://container@account`` has no password to mask."""
        assert (
            redact("abfs://data@acct.dfs.core.windows.net/x", []) == "abfs://data@acct.dfs.core.windows.net/x"
        )

    def test_presigned_credential_and_gcs_signature(self) -> None:
        """X-Amz-Credential and X-Goog-Signature values are masked too."""
        url = "https://h/k?X-Amz-Credential=AKID%2F2026&X-Goog-Signature=abc"
        assert redact(url, []) == f"https://h/k?X-Amz-Credential={MASK}&X-Goog-Signature={MASK}"

    def test_replaces_secret(self) -> None:
        """A secret value is replaced with the mask."""
        assert redact("key=hunter2 failed", ["hunter2"]) == f"key={MASK} failed"

    def test_longest_secret_first(self) -> None:
        """A secret containing another is masked whole, not partly."""
        assert redact("abcdef and abc", ["abc", "abcdef"]) == f"{MASK} and {MASK}"

    def test_empty_secret_is_ignored(self) -> None:
        """An empty secret does not sprinkle masks through the text."""
        assert redact("plain text", ["", "zzz"]) == "plain text"

    def test_sas_signature(self) -> None:
        """A ``sig=`` query value is masked, the rest of the URL kept."""
        url = "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=abc%2Fdef%3D&se=2030"
        assert redact(url, []) == f"https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig={MASK}&se=2030"

    def test_amz_signature(self) -> None:
        """A presigned S3 URL's ``X-Amz-Signature`` is masked."""
        url = "https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef&X-Amz-Expires=60"
        assert redact(url, []) == f"https://b.s3.amazonaws.com/k?X-Amz-Signature={MASK}&X-Amz-Expires=60"

    def test_account_key_in_connection_string(self) -> None:
        """An ``AccountKey=`` value is masked."""
        text = "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=c2VjcmV0;BlobEndpoint=x"
        assert (
            redact(text, [])
            == f"DefaultEndpointsProtocol=http;AccountName=dev;AccountKey={MASK};BlobEndpoint=x"
        )


class TestBackendReason:
    def test_prefers_error_code(self) -> None:
        """A botocore-style ``.response`` error code is the reason."""
        assert backend_reason(client_error("AccessDenied", "Access Denied")) == "AccessDenied"

    def test_code_from_cause(self) -> None:
        """The code is found on a chained cause."""
        exc = chained(
            RuntimeError("upload failed"), client_error("SlowDown", "Please reduce your request rate.")
        )
        assert backend_reason(exc) == "SlowDown"

    def test_azure_error_code(self) -> None:
        """An Azure storage ``error_code`` is the reason."""
        exc = azure_error("BlobNotFound", "The specified blob does not exist.", ResourceNotFoundError)
        assert backend_reason(exc) == "BlobNotFound"

    def test_first_line_of_message(self) -> None:
        """Without a code, the reason is the first line of the message."""
        assert backend_reason(RuntimeError("first line\nsecond line")) == "first line"

    def test_oserror_strerror(self) -> None:
        """An OSError with a file name gives its strerror."""
        assert backend_reason(PermissionError(13, "Permission denied", "/x")) == "Permission denied"

    def test_type_name_when_message_is_empty(self) -> None:
        """An error without a message is named by its type."""
        assert backend_reason(TimeoutError()) == "TimeoutError"

    def test_truncated(self) -> None:
        """A very long message is cut to 300 characters."""
        assert len(backend_reason(RuntimeError("x" * 1000))) == 300


async def _value(value: str) -> str:
    await asyncio.sleep(0)
    return value


async def _fail() -> str:
    raise ValueError("from the I/O loop")


class TestRunSync:
    def test_plain_code(self) -> None:
        """run_sync returns the coroutine's result from plain code."""
        assert run_sync(lambda: _value("plain")) == "plain"

    def test_from_thread(self) -> None:
        """run_sync works from other threads at once."""
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: run_sync(lambda: _value(str(i))), range(8)))
        assert results == [str(i) for i in range(8)]

    def test_inside_running_loop(self) -> None:
        """run_sync works from code running inside an event loop (a notebook cell)."""

        async def cell() -> str:
            return run_sync(lambda: _value("in-loop"))

        assert asyncio.run(cell()) == "in-loop"

    def test_propagates_error(self) -> None:
        """The coroutine's exception reaches the caller."""
        with pytest.raises(ValueError, match="from the I/O loop"):
            run_sync(_fail)

    def test_refused_on_io_loop(self) -> None:
        """Calling run_sync on persist's own I/O loop raises instead of deadlocking."""

        async def nested() -> str:
            return run_sync(lambda: _value("never"))

        with pytest.raises(RuntimeError, match="async_"):
            run_sync(nested)

    def test_interrupt_waits_for_clean_up(self) -> None:
        """Ctrl-C cancels the coroutine and lets its clean-up finish before KeyboardInterrupt propagates."""
        started = threading.Event()
        cleaned_up = threading.Event()

        async def slow() -> str:
            started.set()
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(0.05)  # clean-up that takes a moment, like removing a .part file
                cleaned_up.set()
            return "never"

        main = threading.main_thread().ident
        assert main is not None

        def interrupt() -> None:
            # Only once the main thread waits inside run_sync: an interrupt that lands elsewhere
            # (before run_sync, or in a finaliser the garbage collector runs on the main thread,
            # where Python reports and drops it) tests nothing about run_sync.
            deadline = time.monotonic() + 30
            while not (started.is_set() and _waiting_in_run_sync(main)) and time.monotonic() < deadline:
                time.sleep(0.001)
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        begin = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            run_sync(slow)
        assert cleaned_up.is_set()
        assert time.monotonic() - begin < 10


def _waiting_in_run_sync(thread_id: int) -> bool:
    """Whether the thread is blocked in run_sync, waiting for the coroutine's result."""
    frame = sys._current_frames().get(thread_id)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return bool(names) and names[0] == "wait" and "run_sync" in names


class TestRunAsync:
    def test_awaited_in_loop(self) -> None:
        """run_async gives the result to a coroutine on another event loop."""
        assert asyncio.run(run_async(lambda: _value("awaited"))) == "awaited"

    def test_propagates_error(self) -> None:
        """The coroutine's exception reaches the awaiting code."""
        with pytest.raises(ValueError, match="from the I/O loop"):
            asyncio.run(run_async(_fail))

    def test_on_io_loop_runs_directly(self) -> None:
        """Awaited on the I/O loop itself, run_async just awaits the coroutine."""

        async def outer() -> str:
            return await run_async(lambda: _value("direct"))

        assert run_sync(outer) == "direct"

    def test_cancel_reaches_io_loop(self) -> None:
        """Cancelling the awaiting task cancels the coroutine on the I/O loop."""
        cleaned_up = threading.Event()
        started = threading.Event()

        async def slow() -> str:
            started.set()
            try:
                await asyncio.sleep(60)
            finally:
                cleaned_up.set()
            return "never"

        async def main() -> None:
            task = asyncio.create_task(run_async(slow))
            while not started.is_set():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert cleaned_up.wait(5)

    def test_cancel_returns_after_clean_up(self) -> None:
        """The cancelled caller resumes only once the coroutine's clean-up (awaiting more) has run,
        and the coroutine is cancelled once: its clean-up is not cut short."""
        started = threading.Event()
        cleaned_up = threading.Event()

        async def slow() -> str:
            started.set()
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(0.2)  # like aborting a multipart upload
                cleaned_up.set()
            return "never"

        async def main() -> bool:
            task = asyncio.create_task(run_async(slow))
            while not started.is_set():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return cleaned_up.is_set()

        assert asyncio.run(main()) is True


class TestWaitForHandovers:
    """The exit guard waits for threads inside ``call_soon_threadsafe`` (see persist._obstore)."""

    def test_waits_until_the_thread_has_left(self) -> None:
        """A thread inside the call holds the wait until it leaves; a timeout says one was left."""
        entered, release, left = threading.Event(), threading.Event(), threading.Event()

        def call_soon_threadsafe() -> None:
            # Stands for obstore's thread, waking the loop without the GIL.
            entered.set()
            release.wait(5)
            left.set()

        thread = threading.Thread(target=call_soon_threadsafe)
        thread.start()
        releaser = threading.Timer(0.05, release.set)
        try:
            assert entered.wait(5)
            assert wait_for_handovers(timeout=0.01) is False
            releaser.start()
            assert wait_for_handovers() is True
            assert left.is_set()
        finally:
            release.set()
            releaser.cancel()
            thread.join()

    def test_true_at_once_when_no_thread_is_handing_over(self) -> None:
        assert wait_for_handovers(timeout=0) is True
