"""A provider shipped to process-pool workers moves real bytes to and from moto, on fork and spawn.

The parent uses the provider first, so that its I/O loop, filesystems and obstore stores exist
when the pool forks: a forked worker must build its own rather than hang on the parent's.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from persist import FileAccessProvider
from tests.integration.servers import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.integration.test_s3 import s3_config

# Forking a process that runs threads (persist's I/O loop) is what these tests do on purpose;
# Python 3.12+ warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")

START_METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]
POOL_TIMEOUT = 120.0
"""Seconds the pool gets; a deadlocked worker fails the test instead of hanging the suite."""


def round_trip(args: tuple[FileAccessProvider, int, str]) -> tuple[int, str, str, str]:
    """In a worker: upload a few files through the shipped provider, download them, hash both."""
    provider, index, workdir = args
    payload = hashlib.sha256(f"worker item {index}".encode()).digest() * (64 + index)
    src = Path(workdir) / f"in-{index}.bin"
    src.write_bytes(payload)
    uri = provider.put_raw_data(str(src), upload_prefix="items", file_name=f"{index}.bin")
    out = Path(workdir) / f"out-{index}.bin"
    provider.get_data(uri, str(out))
    return index, uri, hashlib.sha256(payload).hexdigest(), hashlib.sha256(out.read_bytes()).hexdigest()


def obstore_usable(_: int) -> bool:
    """In a worker: whether persist would move S3 bytes through obstore here."""
    from persist.provider import _obstore_usable

    return _obstore_usable()


def _run_pool(method: str, provider: FileAccessProvider, tmp_path: Path, items: int = 6) -> list[Any]:
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        pending = pool.map_async(round_trip, [(provider, i, str(tmp_path)) for i in range(items)])
        return pending.get(timeout=POOL_TIMEOUT)


@pytest.mark.parametrize("engine", ["auto", "fsspec"])
@pytest.mark.parametrize("method", START_METHODS)
def test_shipped_provider_round_trips_from_pool_workers(
    method: str, engine: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path, s3_admin_client: Any
) -> None:
    """Every worker uploads and downloads through the shipped provider; every byte arrives.

    ``auto`` uses obstore here: in a fork of a process where obstore ran, persist moves the
    bytes through fsspec instead (obstore's runtime threads do not survive a fork).
    """
    provider = FileAccessProvider(
        tmp_path / "sb", f"s3://{s3_bucket}/raw", s3_config(s3_endpoint, engine=engine)
    )
    # Warm everything a fork would inherit: the I/O loop, filesystems, obstore stores.
    warm = provider.put_raw_data(b"parent first", file_name="parent.txt")
    assert provider.exists(warm)
    results = _run_pool(method, provider, tmp_path)
    assert sorted(r[0] for r in results) == list(range(6))
    for _, uri, sent, received in results:
        assert sent == received
        key = uri.removeprefix(f"s3://{s3_bucket}/")
        body = s3_admin_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sent
    if engine == "auto":
        # Forked from a process where obstore ran: fsspec; spawned: obstore, as in the parent.
        with multiprocessing.get_context(method).Pool(1) as pool:
            assert pool.map(obstore_usable, [0]) == [method != "fork"]
    # The parent still works after its children are gone.
    assert provider.put_raw_data(b"parent after", file_name="after.txt").endswith("after.txt")


@pytest.mark.parametrize("method", START_METHODS)
def test_from_environment_workers_authenticate_from_their_environment(
    method: str,
    s3_endpoint: str,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped provider holds no endpoint or key; each worker reads them from its environment."""
    monkeypatch.setenv("PERSIST_S3__ENDPOINT", s3_endpoint)
    monkeypatch.setenv("PERSIST_S3__ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", S3_SECRET_KEY + "-from-env")
    monkeypatch.setenv("PERSIST_S3__ADDRESSING_STYLE", "path")
    monkeypatch.setenv("PERSIST_S3__REGION", "us-east-1")
    provider = FileAccessProvider.from_environment(tmp_path / "sb", f"s3://{s3_bucket}/raw")
    payload = pickle.dumps(provider)
    assert (S3_SECRET_KEY + "-from-env").encode() not in payload
    assert s3_endpoint.encode() not in payload
    results = _run_pool(method, provider, tmp_path, items=4)
    assert all(sent == received for _, _, sent, received in results)


def test_worker_without_configuration_cannot_reach_the_store(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the test above: a from_environment provider unpickled where no endpoint
    is configured does not reach moto, so the workers above really used their own environment."""
    monkeypatch.setenv("PERSIST_S3__ENDPOINT", s3_endpoint)
    monkeypatch.setenv("PERSIST_S3__ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", S3_SECRET_KEY)
    provider = FileAccessProvider.from_environment(tmp_path / "sb", f"s3://{s3_bucket}/raw")
    payload = pickle.dumps(provider)
    for name in list(os.environ):
        if name.startswith("PERSIST_"):
            monkeypatch.delenv(name)
    clone = pickle.loads(payload)
    assert clone.data_config.s3.endpoint is None
    assert clone.data_config.s3.secret_access_key is None
