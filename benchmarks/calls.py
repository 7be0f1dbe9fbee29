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
from collections.abc import Callable
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
