"""The memory one big upload takes: bounded by the parts in flight, not by the file's size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.servers import S3_ACCESS_KEY, S3_SECRET_KEY

MiB = 1024 * 1024

CHILD = """
import json, sys
from pathlib import Path
from persist import DataConfig, FileAccessProvider, S3Config
from persist.config import GenericPersistenceConfig

endpoint, bucket, src, key, secret = sys.argv[1:6]
config = DataConfig(
    s3=S3Config(endpoint=endpoint, access_key_id=key, secret_access_key=secret,
                addressing_style="path", region="us-east-1"),
    generic=GenericPersistenceConfig(engine="obstore", attach_execution_metadata=False),
)
provider = FileAccessProvider(str(Path(src).parent / "sandbox"), f"s3://{bucket}", config)
provider.exists(f"s3://{bucket}")

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

before = status("VmRSS")
provider.put_data(src, f"s3://{bucket}/big.bin")
print(json.dumps({"before": before, "peak": status("VmHWM")}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_big_upload_holds_a_few_parts_not_the_file(
    s3_endpoint: str, s3_bucket: str, s3_admin_client: object, tmp_path: Path
) -> None:
    """A 96 MiB upload through obstore (12 parts of 8 MiB) raises the peak RSS by under 30 MiB:
    two parts in flight and one being filled (24 MiB measured, each part buffer its own memory
    map); with glibc's moving threshold the freed part buffers stayed in the heap (32-40 MiB),
    and eight parts in flight took 72."""
    src = tmp_path / "big.bin"
    with src.open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(MiB))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, s3_endpoint, s3_bucket, str(src), S3_ACCESS_KEY, S3_SECRET_KEY],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    grown = (found["peak"] - found["before"]) / MiB
    assert grown < 30, f"peak RSS grew by {grown:.0f} MiB during the upload"
    head = s3_admin_client.head_object(Bucket=s3_bucket, Key="big.bin")  # type: ignore[attr-defined]
    assert head["ContentLength"] == 96 * MiB
