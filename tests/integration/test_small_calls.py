"""The sync fast path (persist/_sync.py) against moto and Azurite: same budget, same errors.

Small sync calls on the obstore engine go from the caller's thread straight to obstore's
blocking functions. These tests hold that path to the transfer core's rules: throttling and
resets retried within ``retries`` and no further, refused lookups reported, atomic downloads,
larger bodies handed to the streamed download, caches that follow a cache clear, and sync
methods that refuse to block persist's own I/O loop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persist import AzureBlobStorageConfig, DataConfig, DownloadError, FileAccessProvider, UploadError
from persist._fs import clear_filesystem_cache, io_loop
from persist.config import GenericPersistenceConfig
from tests.integration.faultproxy import FaultProxy
from tests.integration.servers import AzuriteInfo
from tests.integration.test_s3 import s3_config


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(s3_endpoint) as running:
        yield running
    clear_filesystem_cache()


def through_proxy(proxy: FaultProxy, bucket: str, tmp_path: Path, retries: int) -> FileAccessProvider:
    """A provider on the obstore engine whose requests pass through the fault proxy."""
    return FileAccessProvider(
        tmp_path / "sb", f"s3://{bucket}/raw/", s3_config(proxy.url, retries, "obstore")
    )


@pytest.mark.parametrize("mode", ["slowdown", "reset"])
def test_small_put_is_retried_within_the_budget(
    proxy: FaultProxy, s3_bucket: str, tmp_path: Path, mode: str
) -> None:
    """Two failed PUTs and retries=2: the third attempt stores the bytes."""
    provider = through_proxy(proxy, s3_bucket, tmp_path, retries=2)
    proxy.reset(2, mode, methods={"PUT"})  # type: ignore[arg-type]
    uri = provider.put_raw_data(b"small payload", upload_prefix="p", file_name="k.bin")
    assert uri == f"s3://{s3_bucket}/raw/p/k.bin"
    assert proxy.requests_seen["PUT"] == 3
    out = tmp_path / "back.bin"
    provider.get_data(uri, str(out))
    assert out.read_bytes() == b"small payload"


def test_small_put_stops_at_the_budget(proxy: FaultProxy, s3_bucket: str, tmp_path: Path) -> None:
    """Throttled past retries=2: UploadError naming the destination after exactly 3 PUTs, no object."""
    provider = through_proxy(proxy, s3_bucket, tmp_path, retries=2)
    proxy.reset(10, "slowdown", methods={"PUT"})
    target = f"s3://{s3_bucket}/raw/p/k.bin"
    with pytest.raises(UploadError, match=rf"upload 13 bytes -> {target} failed \(.*SlowDown") as info:
        provider.put_raw_data(b"small payload", upload_prefix="p", file_name="k.bin")
    assert info.value.__cause__ is not None
    assert proxy.requests_seen["PUT"] == 3
    proxy.reset(0)
    assert provider.exists(target) is False


def test_small_file_upload_names_the_file_when_it_fails(
    proxy: FaultProxy, s3_bucket: str, tmp_path: Path
) -> None:
    """put_data of a small file: a non-retryable refusal is raised at once, naming both paths."""
    provider = through_proxy(proxy, s3_bucket, tmp_path, retries=3)
    src = tmp_path / "f.txt"
    src.write_bytes(b"x" * 100)
    proxy.reset(0)
    with pytest.raises(UploadError, match=rf"upload {src} -> s3://no-such-bucket-here/f.txt failed"):
        provider.put_data(str(src), "s3://no-such-bucket-here/f.txt")
    assert proxy.requests_seen["PUT"] == 1


def test_exists_is_retried_within_the_budget(proxy: FaultProxy, s3_bucket: str, tmp_path: Path) -> None:
    """Two throttled HEADs and retries=2: the third answers."""
    provider = through_proxy(proxy, s3_bucket, tmp_path, retries=2)
    uri = provider.put_raw_data(b"here", upload_prefix="e", file_name="k.bin")
    proxy.reset(2, "slowdown", methods={"HEAD"})
    assert provider.exists(uri) is True
    assert proxy.requests_seen["HEAD"] == 3


def test_exists_reports_a_lookup_it_could_not_make(proxy: FaultProxy, s3_bucket: str, tmp_path: Path) -> None:
    """HEADs that keep failing past retries=1: DownloadError, never False, after 2 HEADs."""
    provider = through_proxy(proxy, s3_bucket, tmp_path, retries=1)
    uri = provider.put_raw_data(b"here", upload_prefix="e", file_name="k.bin")
    proxy.reset(10, "reset", methods={"HEAD"})
    with pytest.raises(DownloadError, match=rf"cannot tell whether {uri} exists"):
        provider.exists(uri)
    assert proxy.requests_seen["HEAD"] == 2


def test_small_get_is_retried_and_written_whole(proxy: FaultProxy, s3_bucket: str, tmp_path: Path) -> None:
    """A reset GET is retried; the file appears complete and no temporary file is left."""
    provider = through_proxy(proxy, s3_bucket, tmp_path, retries=2)
    payload = os.urandom(1024)
    uri = provider.put_raw_data(payload, upload_prefix="g", file_name="k.bin")
    out = tmp_path / "out" / "k.bin"
    out.parent.mkdir()
    out.write_bytes(b"old")
    proxy.reset(1, "reset", methods={"GET"})
    provider.get_data(uri, str(out))
    assert out.read_bytes() == payload
    assert proxy.requests_seen["GET"] == 2
    assert [p.name for p in out.parent.iterdir()] == ["k.bin"]


def azure_provider(azurite: AzuriteInfo, container: str, tmp_path: Path) -> FileAccessProvider:
    config = DataConfig(
        azure=AzureBlobStorageConfig(
            account_name=azurite.account_name,
            account_key=azurite.account_key,
            account_host=azurite.blob_endpoint,
        ),
        generic=GenericPersistenceConfig(engine="obstore"),
    )
    return FileAccessProvider(tmp_path / "sb", f"abfs://{container}/raw/", config)


@pytest.mark.parametrize("store", ["s3", "azure"])
def test_an_object_larger_than_one_piece_streams_whole(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A 3 MiB object (past the 2 MiB piece read at once) arrives whole, and so do small ones."""
    if store == "s3":
        endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket")
        provider = FileAccessProvider(
            tmp_path / "sb", f"s3://{bucket}/raw/", s3_config(endpoint, 1, "obstore")
        )
    else:
        azurite, container = request.getfixturevalue("azurite"), request.getfixturevalue("azure_container")
        provider = azure_provider(azurite, container, tmp_path)
    big, small = os.urandom(3 * 1024 * 1024 + 5), os.urandom(1024)
    uris = [
        provider.put_raw_data(data, upload_prefix="s", file_name=name)
        for name, data in (("big", big), ("small", small))
    ]
    for uri, data in zip(uris, (big, small), strict=True):
        out = tmp_path / "out" / uri.rsplit("/", 1)[-1]
        assert provider.get_data(uri, str(out)) == str(out)
        assert out.read_bytes() == data
        assert provider.exists(uri) is True
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["big", "small"]


def test_azure_missing_blob_and_prefix(azurite: AzuriteInfo, azure_container: str, tmp_path: Path) -> None:
    """On Azure, exists() is False for nothing, True for a blob and for a prefix with blobs under it."""
    provider = azure_provider(azurite, azure_container, tmp_path)
    assert provider.exists(f"abfs://{azure_container}/raw/nothing") is False
    uri = provider.put_raw_data(b"x", upload_prefix="deep/er", file_name="k.bin")
    assert provider.exists(uri) is True
    assert provider.exists(f"abfs://{azure_container}/raw/deep") is True


def test_calls_after_a_cache_clear_build_fresh_stores(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """After clear_filesystem_cache() (say, keys rotated), the provider builds its store again."""
    from persist import _obstore

    provider = FileAccessProvider(
        tmp_path / "sb", f"s3://{s3_bucket}/raw/", s3_config(s3_endpoint, 1, "obstore")
    )
    uri = provider.put_raw_data(b"x", upload_prefix="c", file_name="k.bin")
    clear_filesystem_cache()
    assert len(_obstore._STORES) == 0
    assert provider.exists(uri) is True
    assert len(_obstore._STORES) == 1


def test_sync_call_on_the_io_loop_refuses_to_block(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    """A sync method called on persist's I/O loop raises, as run_sync does, instead of blocking it."""
    provider = FileAccessProvider(
        tmp_path / "sb", f"s3://{s3_bucket}/raw/", s3_config(s3_endpoint, 1, "obstore")
    )
    uri = provider.put_raw_data(b"x", upload_prefix="l", file_name="k.bin")

    async def on_loop() -> Any:
        return provider.exists(uri)

    future = asyncio.run_coroutine_threadsafe(on_loop(), io_loop())
    with pytest.raises(RuntimeError, match="own I/O loop"):
        future.result(timeout=30)


SCRIPT = """
import sys, threading
from persist import DataConfig, FileAccessProvider, S3Config
from persist.config import GenericPersistenceConfig
endpoint, bucket, sandbox, out = sys.argv[1:5]
config = DataConfig(
    s3=S3Config(endpoint=endpoint, access_key_id="testing", secret_access_key="testing",
                addressing_style="path", region="us-east-1"),
    generic=GenericPersistenceConfig(engine="obstore"),
)
provider = FileAccessProvider(sandbox, f"s3://{bucket}/raw/", config)
uri = provider.put_raw_data(b"payload", upload_prefix="t", file_name="k.bin")
assert provider.exists(uri)
provider.get_data(uri, out)
assert open(out, "rb").read() == b"payload"
print(sorted(t.name for t in threading.enumerate() if t.name.startswith("fsspec")))
"""


def test_small_calls_run_without_the_io_loop_thread(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    """put_raw_data, exists and get_data of small objects never start persist's I/O loop thread."""
    out = tmp_path / "k.bin"
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, s3_endpoint, s3_bucket, str(tmp_path / "sb"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert out.read_bytes() == b"payload"
