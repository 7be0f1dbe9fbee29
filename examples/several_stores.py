"""Two S3 stores with different endpoints and keys in one config, used by one provider.

Run it with `.venv/bin/python examples/several_stores.py` (needs `persist[dev]`, for moto). It
starts two separate moto S3 servers on 127.0.0.1 (standing in for, say, MinIO and AWS), writes to one
store, copies store to store with no local copy, reads back from the other, and shows which
store serves each URL and the storage options pandas would get for it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3

from persist import DataConfig, FileAccessProvider, get_fsspec_storage_options
from persist._stores import match_store


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """One moto S3 server in its own process (two in one process would share their buckets)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()  # noqa: S310 - http only
            return proc, endpoint
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("moto did not start")


def main() -> None:
    """Start the servers, move a file store to store, print what served each URL."""
    servers = [start_moto(), start_moto()]
    try:
        (_, minio), (_, aws) = servers
        for endpoint, bucket in ((minio, "team-a-raw"), (aws, "results")):
            boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="k",
                aws_secret_access_key="s",  # noqa: S106 - moto's dummy key
                region_name="us-east-1",
            ).create_bucket(Bucket=bucket)
        s3 = {
            "addressing_style": "path",
            "region": "us-east-1",
            "access_key_id": "k",
            "secret_access_key": "s",
        }
        config = DataConfig(
            stores={
                "minio": {"prefixes": ["s3://team-a-"], "s3": {**s3, "endpoint": minio}},
                "aws": {"prefixes": ["s3://results/"], "s3": {**s3, "endpoint": aws}},
            }
        )
        for url in ("s3://team-a-raw/x.csv", "s3://results/x.csv", "s3://elsewhere/x.csv"):
            found = match_store(config.stores, url)
            served = f"store {found.name} (prefix {found.prefix})" if found else "the top-level s3 section"
            endpoint = (
                get_fsspec_storage_options("s3", config, path=url)
                .get("client_kwargs", {})
                .get("endpoint_url")
            )
            print(f"{url}: {served}, endpoint {endpoint}")
        with tempfile.TemporaryDirectory() as sandbox:
            provider = FileAccessProvider(sandbox, "s3://team-a-raw/runs", config)
            provider.put_raw_data(b"a,b\n1,2\n", upload_prefix="r1", file_name="table.csv")
            provider.copy("s3://team-a-raw/runs/r1/table.csv", "s3://results/r1/table.csv")
            out = os.path.join(sandbox, "table.csv")
            provider.get_data("s3://results/r1/table.csv", out)
            with open(out, encoding="utf-8") as handle:
                print("read back from the aws store:", handle.read().splitlines())
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
