"""The benchmark's small-call clients against moto and Azurite: each makes and checks its calls."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from benchmarks import calls
from benchmarks.clients import AzureInfo, Job, S3Info


def _job(client: str, call: str, tmp_path: Path, src: str, dst: str, **servers: Any) -> Job:
    sandbox = tmp_path / f"sb-{client}-{call}"
    sandbox.mkdir()
    return Job(
        client=client,
        backend="s3" if "s3" in servers else "azure",
        op="up" if call == "put" else "down",
        kind="calls",
        src=src,
        dst=dst,
        sandbox=str(sandbox),
        call=call,
        calls=5,
        **servers,
    )


@pytest.mark.parametrize("client", calls.S3_CALL_CLIENTS)
def test_each_s3_client_makes_its_calls(
    client: str, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, tmp_path: Path
) -> None:
    """Against moto: 5 puts leave 5 objects of 1 KiB, 5 gets write 5 copies, exists answers True."""
    from tests.integration.servers import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY

    info = S3Info(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION)
    payload = os.urandom(calls.CALL_BYTES)
    (tmp_path / "tiny.bin").write_bytes(payload)
    s3_admin_client.put_object(Bucket=s3_bucket, Key=calls.TINY_KEY, Body=payload)
    remote = f"s3://{s3_bucket}/{calls.TINY_KEY}"
    put = _job(client, "put", tmp_path, str(tmp_path / "tiny.bin"), f"s3://{s3_bucket}/up-{client}", s3=info)
    calls.CALL_CLIENTS[client](put)()
    listed = s3_admin_client.list_objects_v2(Bucket=s3_bucket, Prefix=f"up-{client}/")["Contents"]
    assert {o["Key"].rsplit("/", 1)[-1]: o["Size"] for o in listed} == calls.expected_files(5)
    out = tmp_path / f"out-{client}"
    calls.CALL_CLIENTS[client](_job(client, "get", tmp_path, remote, str(out), s3=info))()
    digests = {p.name: hashlib.sha256(p.read_bytes()).digest() for p in out.iterdir()}
    assert digests == {name: hashlib.sha256(payload).digest() for name in calls.expected_files(5)}
    calls.CALL_CLIENTS[client](_job(client, "exists", tmp_path, remote, "", s3=info))()


@pytest.mark.parametrize("client", calls.AZURE_CALL_CLIENTS)
def test_each_azure_client_makes_its_calls(
    client: str, azurite: Any, azure_container: str, tmp_path: Path
) -> None:
    """Against Azurite: the same, and an exists of a missing blob fails the run."""
    from azure.storage.blob import BlobServiceClient

    info = AzureInfo(
        azurite.account_name, azurite.account_key, azurite.blob_endpoint, azurite.connection_string
    )
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(azure_container)
    payload = os.urandom(calls.CALL_BYTES)
    (tmp_path / "tiny.bin").write_bytes(payload)
    container.upload_blob(calls.TINY_KEY, payload)
    remote = f"abfs://{azure_container}/{calls.TINY_KEY}"
    dst = f"abfs://{azure_container}/up-{client}"
    calls.CALL_CLIENTS[client](_job(client, "put", tmp_path, str(tmp_path / "tiny.bin"), dst, azure=info))()
    found = {
        b.name.rsplit("/", 1)[-1]: b.size for b in container.list_blobs(name_starts_with=f"up-{client}/")
    }
    assert found == calls.expected_files(5)
    out = tmp_path / f"out-{client}"
    calls.CALL_CLIENTS[client](_job(client, "get", tmp_path, remote, str(out), azure=info))()
    assert sorted(p.name for p in out.iterdir()) == sorted(calls.expected_files(5))
    assert all(p.read_bytes() == payload for p in out.iterdir())
    missing = f"abfs://{azure_container}/nothing.bin"
    with pytest.raises((AssertionError, FileNotFoundError)):
        calls.CALL_CLIENTS[client](_job(client, "exists", tmp_path, missing, "", azure=info))()
