"""Interrupted, cancelled and failed S3 uploads leave no object and no unfinished multipart upload.

Every test runs on both engines against moto. The uploads are large enough (sparse files of
64-256 MiB) that they are still in flight when the interrupt lands; each test waits until moto
lists the multipart upload before interrupting, rather than sleeping for a guessed time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from persist import FileAccessProvider, UploadError
from tests.integration.faultproxy import FaultProxy
from tests.integration.servers import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY
from tests.integration.test_s3 import s3_config

pytestmark = pytest.mark.usefixtures("fresh_filesystems")

MiB = 1024 * 1024


@pytest.fixture(params=["fsspec", "obstore"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes that takes no disk space and no time to make."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def unfinished_uploads(client: Any, bucket: str) -> list[str]:
    """Keys of the multipart uploads moto holds unfinished in ``bucket``."""
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def objects(client: Any, bucket: str) -> list[str]:
    """Keys of the objects in ``bucket``."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def wait_for_upload(client: Any, bucket: str, key: str, running: Any = None, timeout: float = 30) -> None:
    """Return once moto lists a multipart upload of ``key``; fail if ``running()`` turns false first."""
    deadline = time.monotonic() + timeout
    while key not in unfinished_uploads(client, bucket):
        assert running is None or running(), "the upload ended before it could be interrupted"
        assert time.monotonic() < deadline, f"no multipart upload of {key} began within {timeout} s"
        time.sleep(0.01)


def s3_yaml(path: Path, endpoint: str, engine: str) -> str:
    path.write_text(
        "s3:\n"
        f"  endpoint: {endpoint}\n"
        "  addressing_style: path\n"
        f"  region: {S3_REGION}\n"
        f"  access_key_id: {S3_ACCESS_KEY}\n"
        "  retries: 0\n"
        "generic:\n"
        f"  engine: {engine}\n"
        "  attach_execution_metadata: false\n",
        encoding="utf-8",
    )
    return str(path)


def test_interrupted_cp_upload_leaves_nothing(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, engine: str
) -> None:
    """Ctrl-C during `persist cp` of a large file, three times: one line on stderr, exit 130,
    no object, no unfinished multipart upload, no Rust panic (issue 15, section 2)."""
    big = sparse_file(tmp_path / "big.bin", 256 * MiB)
    config = s3_yaml(tmp_path / "s3.yaml", s3_endpoint, engine)
    env = {**os.environ, "PERSIST_S3__SECRET_ACCESS_KEY": S3_SECRET_KEY}
    for attempt in range(3):
        key = f"big-{attempt}.bin"
        proc = subprocess.Popen(
            [sys.executable, "-m", "persist", "cp", "--config", config, str(big), f"s3://{s3_bucket}/{key}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            wait_for_upload(s3_admin_client, s3_bucket, key, running=lambda p=proc: p.poll() is None)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert (proc.returncode, stdout.decode(), stderr.decode()) == (
            130,
            "",
            f"persist: interrupted; s3://{s3_bucket}/{key} was not written and no partial object "
            "or unfinished multipart upload was left\n",
        )
        assert unfinished_uploads(s3_admin_client, s3_bucket) == []
        assert objects(s3_admin_client, s3_bucket) == []


def test_cancelled_async_put_data_aborts_the_multipart_upload(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, engine: str
) -> None:
    """Cancelling an `async_put_data` task aborts its multipart upload before the cancellation returns."""
    big = sparse_file(tmp_path / "big.bin", 256 * MiB)
    provider = FileAccessProvider(
        tmp_path / "sb", f"s3://{s3_bucket}/raw", s3_config(s3_endpoint, engine=engine)
    )
    uri = f"s3://{s3_bucket}/big.bin"

    async def cancel_mid_way() -> None:
        task = asyncio.ensure_future(provider.async_put_data(str(big), uri))
        deadline = time.monotonic() + 30
        while "big.bin" not in await asyncio.to_thread(unfinished_uploads, s3_admin_client, s3_bucket):
            assert not task.done(), "the upload ended before it could be cancelled"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_way())
    assert unfinished_uploads(s3_admin_client, s3_bucket) == []
    assert objects(s3_admin_client, s3_bucket) == []


def test_failed_multipart_upload_is_aborted(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, engine: str
) -> None:
    """Parts refused by the server (SlowDown on every part, no retries): UploadError, and the
    multipart upload that was begun is aborted."""
    big = sparse_file(tmp_path / "big.bin", 64 * MiB)
    with FaultProxy(s3_endpoint) as proxy:
        # CreateMultipartUpload is a POST and gets through; every UploadPart (a PUT) fails.
        proxy.reset(1000, "slowdown", methods={"PUT"})
        config = s3_config(proxy.url, retries=0, engine=engine)
        provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/raw", config)
        with pytest.raises(UploadError, match=r"big\.bin"):
            provider.put_data(str(big), f"s3://{s3_bucket}/big.bin")
        assert proxy.requests_seen["POST"] >= 1, "no multipart upload was begun"
    assert unfinished_uploads(s3_admin_client, s3_bucket) == []
    assert objects(s3_admin_client, s3_bucket) == []
