"""Scale-out benchmark: 1, 2 and 4 worker processes sharing one shipped provider, against one process.

Uploads and then downloads the same files (2,000 x 4 KiB by default, in folders of 100) through
persist, first from this process alone with one folder call, then from a pool of N spawned
worker processes that each receive the pickled provider once and transfer their share of the
folders. Beside each wall time it reports the clients' CPU time and the server's busy share
(its CPU time during the run divided by the run's time): near 1 the server worked the whole
run, so it, not persist, set the pace, and more workers cannot help.

Runs in the development environment (it needs moto and, for Azure, Azurite, as the tests do)::

    .venv/bin/python -m benchmarks.scaleout                       # moto, 1/2/4 workers
    .venv/bin/python -m benchmarks.scaleout --backend azure --reps 2

Results go to ``benchmarks/results/scaleout-<backend>.md`` and ``.json``. Pool start-up (spawning
the interpreters and importing persist) happens before the clock starts and is reported apart.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.clients import process_cpu_seconds

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Measure:
    """One timed transfer phase of one configuration."""

    backend: str
    setup: str
    workers: int
    direction: str
    seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float | None

    @property
    def server_busy(self) -> float | None:
        """The server's CPU time over the run's time."""
        if self.server_cpu_seconds is None or not self.seconds:
            return None
        return self.server_cpu_seconds / self.seconds


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- what a worker does --------------------------------------------------------------------

_PROVIDER: Any = None


def _init_worker(payload: bytes) -> None:
    """Pool initializer: unpickle the shipped provider once per worker process."""
    import pickle

    global _PROVIDER
    _PROVIDER = pickle.loads(payload)  # noqa: S301 - our own provider, pickled by this benchmark


def _warm(_: int) -> int:
    """Import and connect before the clock starts; hold the worker so every process gets one.

    Without the pause, one process can take all of these before the pool starts the others.
    """
    import persist.provider  # noqa: F401

    _PROVIDER.exists(_PROVIDER.raw_output_prefix + "warm")
    time.sleep(0.3)
    return os.getpid()


def _upload(folder: str, remote: str) -> float:
    """Upload one local folder to ``remote`` in one call; returns this worker's CPU seconds."""
    before = _cpu()
    _PROVIDER.upload_directory(folder, remote)
    return _cpu() - before


def _download(remote: str, local: str) -> float:
    """Download one remote folder to ``local`` in one call; returns this worker's CPU seconds."""
    before = _cpu()
    _PROVIDER.download_directory(remote, local)
    return _cpu() - before


# --- the driver -----------------------------------------------------------------------------


@dataclass
class Target:
    """A running server and how persist reaches it."""

    backend: str
    root: str
    config: Any
    server_pid: int | None


@contextlib.contextmanager
def start_target(backend: str) -> Iterator[Target]:
    """Start moto or Azurite, make a bucket or container, and yield how to use it."""
    from persist import AzureBlobStorageConfig, DataConfig, S3Config
    from tests.integration import servers as srv

    pids: list[int] = []
    if backend == "s3":
        with srv.moto_server(on_start=pids.append) as endpoint, srv.moto_client(endpoint) as client:
            client.create_bucket(Bucket="scaleout")
            config = DataConfig(
                s3=S3Config(
                    endpoint=endpoint,
                    access_key_id=srv.S3_ACCESS_KEY,
                    secret_access_key=srv.S3_SECRET_KEY,
                    addressing_style="path",
                    region=srv.S3_REGION,
                )
            )
            yield Target(backend, "s3://scaleout", config, pids[0] if pids else None)
    else:
        from azure.storage.blob import BlobServiceClient

        with srv.azurite_server(on_start=pids.append) as info:
            with BlobServiceClient.from_connection_string(info.connection_string) as blob:
                blob.create_container("scaleout")
            config = DataConfig(
                azure=AzureBlobStorageConfig(
                    account_name=info.account_name,
                    account_key=info.account_key,
                    account_host=info.blob_endpoint,
                )
            )
            yield Target(backend, "abfs://scaleout", config, pids[0] if pids else None)


def make_data(root: Path, files: int, size: int, per_folder: int) -> list[Path]:
    """``files`` random files of ``size`` bytes in folders of ``per_folder``; returns the folders."""
    folders: list[Path] = []
    for index in range(files):
        if index % per_folder == 0:
            folders.append(root / f"f{len(folders):03d}")
            folders[-1].mkdir(parents=True)
        (folders[-1] / f"{index:06d}.bin").write_bytes(os.urandom(size))
    return folders


def make_shares(folders: list[Path], workers: int, root: Path) -> list[Path]:
    """One folder per worker, ``root/w<k>``, holding (hard links to) its share of the folders.

    Each worker then moves its share in one folder call, as the single process moves all of it:
    the comparison is of processes, not of how many calls each makes.
    """
    shares = [root / f"w{k}" for k in range(workers)]
    for index, folder in enumerate(folders):
        target = shares[index % workers] / folder.name
        target.mkdir(parents=True)
        for src in folder.iterdir():
            os.link(src, target / src.name)
    return shares


def _check(local: Path, source: Path) -> None:
    """Every file under ``source`` was downloaded under ``local`` with the same bytes."""
    count = 0
    for src in source.rglob("*.bin"):
        got = local / src.relative_to(source)
        if got.read_bytes() != src.read_bytes():
            raise AssertionError(f"{got} differs from {src}")
        count += 1
    if count == 0:
        raise AssertionError(f"nothing found under {source}")


def run_one_process(target: Target, data: Path, work: Path, rep: int) -> list[Measure]:
    """Baseline: this process, one folder call each way, no pool."""
    from persist import FileAccessProvider

    provider = FileAccessProvider(work / "sandbox", f"{target.root}/raw", target.config)
    provider.exists(f"{target.root}/warm")  # build the client before the clock starts
    remote = f"{target.root}/one-{rep}"
    out: list[Measure] = []
    for direction in ("up", "down"):
        local = work / f"one-{rep}"
        server = process_cpu_seconds(target.server_pid)
        cpu, start = _cpu(), time.perf_counter()
        if direction == "up":
            provider.upload_directory(str(data), remote)
        else:
            provider.download_directory(remote, str(local))
        seconds = time.perf_counter() - start
        server_after = process_cpu_seconds(target.server_pid)
        out.append(
            Measure(
                target.backend,
                "one process",
                1,
                direction,
                seconds,
                _cpu() - cpu,
                None if server is None or server_after is None else server_after - server,
            )
        )
    _check(work / f"one-{rep}", data)
    shutil.rmtree(work / f"one-{rep}")
    _remove(provider, remote)
    return out


def _remove(provider: Any, remote: str) -> None:
    """Delete what a configuration wrote, off the clock.

    Azurite slows as a container fills, which would penalise whichever configuration runs later.
    """
    provider.get_filesystem_for_path(remote).rm(remote, recursive=True)


def run_pool(target: Target, shares: list[Path], work: Path, rep: int) -> tuple[list[Measure], float]:
    """N spawned workers, each with the shipped provider, each moving its share in one call."""
    import pickle

    from persist import FileAccessProvider

    provider = FileAccessProvider(work / "sandbox", f"{target.root}/raw", target.config)
    payload = pickle.dumps(provider)
    workers = len(shares)
    remote = f"{target.root}/pool{workers}-{rep}"
    local = work / f"pool{workers}-{rep}"
    ctx = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    out: list[Measure] = []
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(payload,)
    ) as pool:
        pids = set(pool.map(_warm, range(workers * 2)))
        startup = time.perf_counter() - started
        if len(pids) != workers:
            raise RuntimeError(f"expected {workers} worker processes, saw {len(pids)}")
        for direction in ("up", "down"):
            server = process_cpu_seconds(target.server_pid)
            start = time.perf_counter()
            if direction == "up":
                jobs = [pool.submit(_upload, str(share), f"{remote}/{share.name}") for share in shares]
            else:
                jobs = [
                    pool.submit(_download, f"{remote}/{share.name}", str(local / share.name))
                    for share in shares
                ]
            cpu = sum(job.result() for job in jobs)
            seconds = time.perf_counter() - start
            server_after = process_cpu_seconds(target.server_pid)
            out.append(
                Measure(
                    target.backend,
                    f"{workers} worker{'s' if workers > 1 else ''}",
                    workers,
                    direction,
                    seconds,
                    cpu,
                    None if server is None or server_after is None else server_after - server,
                )
            )
    for share in shares:
        _check(local / share.name, share)
    shutil.rmtree(local)
    _remove(provider, remote)
    return out, startup


def render(backend: str, measures: list[Measure], startups: dict[int, list[float]], args: Any) -> str:
    """A markdown table: medians per configuration and direction."""
    lines = [
        f"Scale-out on {backend}: {args.files:,} files x {args.size // 1024} KiB in folders of "
        f"{args.per_folder}, medians of {args.reps}; {os.cpu_count()} cores shared by the server, "
        "the workers and the driver; load average (1 min) at the end "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        "| Setup | Up | Up files/s | Down | Down files/s | Client CPU up / down "
        "| Server busy up / down | Pool start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    setups = list(dict.fromkeys(m.setup for m in measures))
    for setup in setups:
        row: dict[str, dict[str, float | None]] = {}
        for direction in ("up", "down"):
            ms = [m for m in measures if m.setup == setup and m.direction == direction]
            busy = [b for m in ms if (b := m.server_busy) is not None]
            row[direction] = {
                "seconds": statistics.median(m.seconds for m in ms),
                "cpu": statistics.median(m.client_cpu_seconds for m in ms),
                "busy": statistics.median(busy) if busy else None,
            }
        workers = next(m.workers for m in measures if m.setup == setup)
        start = (
            f"{statistics.median(startups[workers]):.2f} s"
            if setup != "one process" and startups.get(workers)
            else "—"
        )

        def fmt_busy(value: float | None) -> str:
            return "—" if value is None else f"{value:.2f}"

        up, down = row["up"], row["down"]
        lines.append(
            f"| {setup} | {up['seconds']:.2f} s | {args.files / up['seconds']:.0f} | "
            f"{down['seconds']:.2f} s | {args.files / down['seconds']:.0f} | "
            f"{up['cpu']:.2f} s / {down['cpu']:.2f} s | "
            f"{fmt_busy(up['busy'])} / {fmt_busy(down['busy'])} | {start} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["s3", "azure"], default="s3")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--per-folder", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="persist-scaleout-"))
    measures: list[Measure] = []
    startups: dict[int, list[float]] = {}
    try:
        folders = make_data(work / "data", args.files, args.size, args.per_folder)
        shares = {n: make_shares(folders, n, work / f"shares-{n}") for n in args.workers}
        with start_target(args.backend) as target:
            for rep in range(args.reps):
                # Alternate the order each repetition, so no setup always runs on a fresher server.
                order: list[int] = [0, *args.workers]
                if rep % 2:
                    order.reverse()
                for workers in order:
                    if workers == 0:
                        got = run_one_process(target, work / "data", work, rep)
                    else:
                        got, startup = run_pool(target, shares[workers], work, rep)
                        startups.setdefault(workers, []).append(startup)
                    for m in got:
                        print(
                            f"{m.setup:>12} {m.direction:>4}: {m.seconds:6.2f} s, "
                            f"busy {m.server_busy or 0:.2f}",
                            flush=True,
                        )
                    measures.extend(got)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = render(args.backend, measures, startups, args)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scaleout-{args.backend}.md").write_text(table)
    (args.out / f"scaleout-{args.backend}.json").write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "runs": [asdict(m) for m in measures]},
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
