"""Small-call latency: many sequential ``exists`` / 1 KiB put / 1 KiB get calls, sync API.

Each call workload runs one client in a fresh child (``benchmarks.clients``), like the transfer
workloads: the child builds its client, makes one call of the measured kind untimed (imports,
first connection, the client's caches), then times ``Job.calls`` sequential calls from plain
code. The parent checks what it can: the uploaded objects (names and sizes), the downloaded
files (names, sizes and content); an ``exists`` call that does not answer True fails the run.

Clients (each library's own synchronous calls, nothing concurrent):

- persist: ``FileAccessProvider.exists`` / ``put_raw_data(bytes, upload_prefix, file_name)`` /
  ``get_data(remote, local)``, configured in code as in the transfer workloads.
- obstore: ``obstore.head`` / ``obstore.put(store, key, bytes)`` / ``obstore.get(...).bytes()``
  written to the local file.
- boto3 (S3): ``head_object`` / ``put_object`` / ``get_object`` with its body written to the file.
- azure-blob (Azure): azure-storage-blob's sync ``BlobClient.exists`` / ``upload_blob`` /
  ``download_blob().readall()`` written to the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.clients import Job, Transfer

CALLS_FULL = 1000
"""Calls per run in a full run."""
CALLS_QUICK = 100
"""Calls per run with ``--quick``."""
CALL_BYTES = 1024
"""Bytes of each object put or got."""
TINY_KEY = "tiny.bin"
"""The object the ``exists`` and ``get`` workloads ask for, seeded in the source bucket."""

S3_CALL_CLIENTS = ("persist", "obstore", "boto3")
AZURE_CALL_CLIENTS = ("persist", "obstore", "azure-blob")
CALLS = ("exists", "put", "get")
"""The call workloads, each named ``calls_<call>`` (``s3:calls_exists``...)."""


def key_of(i: int) -> str:
    """The name of call ``i``'s object or file under the run's prefix or folder."""
    return f"{i:05d}"


def expected_files(calls: int) -> dict[str, int]:
    """What ``calls`` puts leave under their prefix (or gets in their folder): name -> size."""
    return {key_of(i): CALL_BYTES for i in range(calls)}


def _timed_calls(job: Job, one: Callable[[int], object]) -> Transfer:
    """One untimed call of the same kind (the warm-up), then the timed ``job.calls`` calls."""
    if job.call == "get":
        os.makedirs(job.dst, exist_ok=True)
    warm = -1

    def check(i: int) -> None:
        found = one(i)
        if job.call == "exists" and found is not True:
            raise AssertionError(f"{job.client}: exists({job.src}) answered {found!r}, not True")

    check(warm)

    def run() -> None:
        for i in range(job.calls):
            check(i)

    return run


def _local(job: Job, i: int) -> str:
    # The warm-up downloads beside the measured files, so the folder holds exactly the calls.
    return os.path.join(job.dst if i >= 0 else job.sandbox, key_of(i) if i >= 0 else "warm-up.bin")


def _remote_key(job: Job, i: int) -> str:
    """The object key of call ``i`` (puts; a warm-up put goes beside the prefix)."""
    from benchmarks.clients import split_uri

    _, key = split_uri(job.dst)
    return f"{key}/{key_of(i)}" if i >= 0 else f"{key}-warm-up.bin"


def _payload(job: Job) -> bytes:
    with open(job.src, "rb") as src:
        return src.read()


def persist_calls(job: Job) -> Transfer:
    """The persist client: its sync provider methods."""
    from benchmarks.clients import bucket_root, persist_provider, split_uri

    provider = persist_provider(job, bucket_root(job) + "/")
    if job.call == "exists":
        return _timed_calls(job, lambda i: provider.exists(job.src))
    if job.call == "get":
        return _timed_calls(job, lambda i: provider.get_data(job.src, _local(job, i)))
    data = _payload(job)
    _, prefix = split_uri(job.dst)

    def put(i: int) -> object:
        if i < 0:
            return provider.put_raw_data(data, upload_prefix=f"{prefix}-warm-up", file_name="warm-up.bin")
        return provider.put_raw_data(data, upload_prefix=prefix, file_name=key_of(i))

    return _timed_calls(job, put)


def obstore_calls(job: Job) -> Transfer:
    """The obstore client: its own sync functions."""
    import obstore

    from benchmarks.clients import _obstore_store, split_uri

    store = _obstore_store(job)
    if job.call == "exists":
        _, key = split_uri(job.src)
        return _timed_calls(job, lambda i: obstore.head(store, key) is not None)
    if job.call == "get":
        _, key = split_uri(job.src)

        def get(i: int) -> None:
            data = obstore.get(store, key).bytes()
            with open(_local(job, i), "wb") as out:
                out.write(data)

        return _timed_calls(job, get)
    data = _payload(job)
    return _timed_calls(job, lambda i: obstore.put(store, _remote_key(job, i), data))


def boto3_calls(job: Job) -> Transfer:
    """boto3's client calls: ``head_object``, ``put_object``, ``get_object``."""
    import boto3
    from botocore.config import Config

    from benchmarks.clients import split_uri

    s3 = job.s3_info()
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}),
    )
    if job.call == "exists":
        bucket, key = split_uri(job.src)
        return _timed_calls(job, lambda i: bool(client.head_object(Bucket=bucket, Key=key)))
    if job.call == "get":
        bucket, key = split_uri(job.src)

        def get(i: int) -> None:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            with open(_local(job, i), "wb") as out:
                out.write(body)

        return _timed_calls(job, get)
    bucket, _ = split_uri(job.dst)
    data = _payload(job)
    return _timed_calls(job, lambda i: client.put_object(Bucket=bucket, Key=_remote_key(job, i), Body=data))


def azure_blob_calls(job: Job) -> Transfer:
    """azure-storage-blob's sync ``BlobClient``: ``exists``, ``upload_blob``, ``download_blob``."""
    from azure.storage.blob import BlobServiceClient

    from benchmarks.clients import split_uri

    service: Any = BlobServiceClient.from_connection_string(job.azure_info().connection_string)
    if job.call in ("exists", "get"):
        container, key = split_uri(job.src)
        blob = service.get_blob_client(container, key)
        if job.call == "exists":
            return _timed_calls(job, lambda i: blob.exists())

        def get(i: int) -> None:
            data = blob.download_blob().readall()
            with open(_local(job, i), "wb") as out:
                out.write(data)

        return _timed_calls(job, get)
    container, _ = split_uri(job.dst)
    client = service.get_container_client(container)
    data = _payload(job)
    return _timed_calls(job, lambda i: client.upload_blob(_remote_key(job, i), data, overwrite=True))


CALL_CLIENTS: dict[str, Callable[[Job], Transfer]] = {
    "persist": persist_calls,
    "obstore": obstore_calls,
    "boto3": boto3_calls,
    "azure-blob": azure_blob_calls,
}
"""The clients of the call workloads, by name."""


def per_call_overhead_us(
    persist_seconds: float | None, peer_seconds: float | None, calls: int
) -> float | None:
    """(persist's seconds - the peer's) / calls, in microseconds; None when either is missing."""
    if persist_seconds is None or peer_seconds is None or not calls:
        return None
    return (persist_seconds - peer_seconds) / calls * 1e6


# --- interleaved: persist and its peers in one process, block by block ------------------------


def _servers(stack: Any, backends: list[str], payload: Path) -> dict[str, Any]:
    """Start moto and/or Azurite, each with the source bucket (holding the tiny object) and ``up``."""
    from benchmarks.clients import AzureInfo, S3Info
    from tests.integration import servers as srv

    found: dict[str, Any] = {}
    if "s3" in backends:
        endpoint = stack.enter_context(srv.moto_server())
        client = stack.enter_context(srv.moto_client(endpoint))
        for bucket in ("bench-src", "calls-up"):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket="bench-src", Key=TINY_KEY, Body=payload.read_bytes())
        found["s3"] = S3Info(endpoint, srv.S3_ACCESS_KEY, srv.S3_SECRET_KEY, srv.S3_REGION)
    if "azure" in backends:
        from azure.storage.blob import BlobServiceClient

        info = stack.enter_context(srv.azurite_server())
        service = BlobServiceClient.from_connection_string(info.connection_string)
        for container in ("bench-src", "calls-up"):
            service.create_container(container)
        service.get_blob_client("bench-src", TINY_KEY).upload_blob(payload.read_bytes())
        found["azure"] = AzureInfo(
            info.account_name, info.account_key, info.blob_endpoint, info.connection_string
        )
    return found


def interleaved(
    where: Any, backend: str, call: str, blocks: int, per_block: int, work: Path
) -> dict[str, Any]:
    """``blocks`` rounds of ``per_block`` calls by each client, the order rotated every round.

    Each round builds every client afresh (untimed, with its warm-up call) and times its calls:
    wall and process CPU. The per-call overhead of a round is persist's time minus the fastest
    peer's in that same round, so both saw the same moment of a shared, noisy machine.
    """
    import statistics
    import time

    from benchmarks.clients import Job

    clients = list(S3_CALL_CLIENTS if backend == "s3" else AZURE_CALL_CLIENTS)
    scheme = "s3" if backend == "s3" else "abfs"
    walls: dict[str, list[float]] = {c: [] for c in clients}
    cpus: dict[str, list[float]] = {c: [] for c in clients}
    for b in range(blocks):
        shift = b % len(clients)
        for client in clients[shift:] + clients[:shift]:
            sandbox = work / f"sb-{backend}-{call}-{client}-{b}"
            sandbox.mkdir(parents=True)
            job = Job(
                client=client,
                backend=backend,  # type: ignore[arg-type]
                op="up" if call == "put" else "down",
                kind="calls",
                src=str(work / "tiny.bin") if call == "put" else f"{scheme}://bench-src/{TINY_KEY}",
                dst=f"{scheme}://calls-up/{client}-{b}" if call == "put" else str(sandbox / "out"),
                sandbox=str(sandbox),
                s3=where if backend == "s3" else None,
                azure=where if backend == "azure" else None,
                call=call,
                calls=per_block,
            )
            run = CALL_CLIENTS[client](job)
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls[client].append((time.perf_counter() - wall) / per_block)
            cpus[client].append((time.process_time() - cpu) / per_block)

    def us(values: list[float]) -> float:
        return statistics.median(values) * 1e6

    peers = [c for c in clients if c != "persist"]
    best = min(peers, key=lambda c: us(walls[c]))
    diffs = sorted((p - q) * 1e6 for p, q in zip(walls["persist"], walls[best], strict=True))
    cpu_diffs = sorted((p - q) * 1e6 for p, q in zip(cpus["persist"], cpus[best], strict=True))
    quartiles = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else [diffs[0]] * 3
    return {
        "backend": backend,
        "call": call,
        "blocks": blocks,
        "per_block": per_block,
        "wall_us": {c: us(walls[c]) for c in clients},
        "cpu_us": {c: us(cpus[c]) for c in clients},
        "fastest_peer": best,
        "overhead_us": statistics.median(diffs),
        "overhead_quartiles_us": [quartiles[0], quartiles[2]],
        "cpu_overhead_us": statistics.median(cpu_diffs),
        "persist_faster_rounds": sum(1 for d in diffs if d < 0),
    }


def main() -> None:
    """``python -m benchmarks.calls``: the interleaved per-call overhead, printed as Markdown."""
    import argparse
    import contextlib
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--stores", nargs="+", default=["s3", "azure"], choices=["s3", "azure"])
    parser.add_argument("--calls", nargs="+", default=list(CALLS), choices=list(CALLS))
    parser.add_argument("--blocks", type=int, default=20, help="rounds (default 20)")
    parser.add_argument("--per-block", type=int, default=50, help="calls per client per round (default 50)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    results = []
    with tempfile.TemporaryDirectory(prefix="calls-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        (work / "tiny.bin").write_bytes(os.urandom(CALL_BYTES))
        servers = _servers(stack, args.stores, work / "tiny.bin")
        for backend in args.stores:
            for call in args.calls:
                found = interleaved(servers[backend], backend, call, args.blocks, args.per_block, work)
                results.append(found)
                print(json.dumps(found), file=sys.stderr, flush=True)
    print(
        "| store | call | persist µs/call | fastest peer µs/call | overhead µs (quartiles) "
        "| CPU overhead µs | rounds persist faster |"
    )
    print("|---|---|---:|---|---:|---:|---:|")
    for r in results:
        peer = r["fastest_peer"]
        q = r["overhead_quartiles_us"]
        print(
            f"| {r['backend']} | {r['call']} | {r['wall_us']['persist']:.0f} "
            f"| {peer} {r['wall_us'][peer]:.0f} "
            f"| {r['overhead_us']:.0f} ({q[0]:.0f} to {q[1]:.0f}) | {r['cpu_overhead_us']:.0f} "
            f"| {r['persist_faster_rounds']} of {r['blocks']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
