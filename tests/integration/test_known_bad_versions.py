"""The data losses behind persist/known_bad_versions.json, checked on whatever backends are installed.

Each test reproduces a reported defect through persist against a real server, so every leg of
the dependency matrix (scripts/matrix) proves its backend versions are free of it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from persist import FileAccessProvider
from tests.integration.test_s3 import s3_config

PART = 5 * 1024 * 1024
"""The smallest part S3 allows; persist's write_chunk_size_bytes for these uploads."""


def test_multipart_upload_keeps_its_last_part(
    s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, tmp_path: Path
) -> None:
    """A file of 10 parts and a bit arrives whole through the fsspec engine (s3fs put_file).

    s3fs 2024.10.0 uploads parts ten at a time and, when the last batch holds a single part,
    sends an empty part in its place: a 51 MiB file is stored as 50 MiB without an error
    (https://github.com/fsspec/s3fs/issues/915, https://github.com/flyteorg/flyte/issues/5936).
    """
    data = os.urandom(10 * PART + 1024 * 1024)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    provider = FileAccessProvider(
        str(tmp_path / "sandbox"),
        f"s3://{s3_bucket}/raw",
        s3_config(s3_endpoint, engine="fsspec", write_chunk_size_bytes=PART),
    )
    provider.put_data(str(source), f"s3://{s3_bucket}/raw/big.bin")
    stored = s3_admin_client.get_object(Bucket=s3_bucket, Key="raw/big.bin")["Body"].read()
    stored_size, source_size = len(stored), len(data)
    assert stored_size == source_size
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
