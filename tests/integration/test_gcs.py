"""The behaviour contract on Google Cloud Storage (fake-gcs-server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from persist import DataConfig, FileAccessProvider, GCSConfig, get_fsspec_storage_options
from tests.integration.contract import RemoteContract
from tests.integration.servers import GCS_PROJECT


class TestGCS(RemoteContract):
    """fake-gcs-server through GCSConfig.endpoint."""

    @pytest.fixture
    def data_config(self, gcs_endpoint: str) -> DataConfig:
        return DataConfig(gcs=GCSConfig(endpoint=gcs_endpoint, token="anon", project=GCS_PROJECT))

    @pytest.fixture
    def remote_root(self, gcs_bucket: str) -> str:
        return f"gs://{gcs_bucket}"

    def object_metadata(self, provider: FileAccessProvider, uri: str) -> dict[str, str]:
        fs = provider.get_filesystem_for_path(uri)
        fs.invalidate_cache()
        return dict(fs.info(uri).get("metadata") or {})


# Run in a child whose environment lacks GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT, as a user's program's
# would: it writes, reads (as pandas does, through fsspec.open) and lists with the given options.
FSSPEC_CALLER = """
import json, sys, time
import fsspec
import gcsfs

options, bucket = json.loads(sys.argv[1]), sys.argv[2]
start = time.monotonic()
fs = fsspec.filesystem("gcs", **options)
fs.pipe_file(f"{bucket}/table.csv", b"a,b\\n1,2\\n")
with fsspec.open(f"gcs://{bucket}/table.csv", "rb", **options) as handle:
    content = handle.read().decode()
listing = fs.ls(bucket, detail=False)
print(json.dumps({"class": gcsfs.GCSFileSystem.__name__, "content": content, "listing": listing,
                  "seconds": time.monotonic() - start}))
"""


def run_fsspec_caller(options: dict[str, Any], bucket: str) -> dict[str, Any]:
    """Run FSSPEC_CALLER with ``options`` in a child without the gcsfs probe switch; its report."""
    env = {k: v for k, v in os.environ.items() if k != "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"}
    result = subprocess.run(
        [sys.executable, "-c", FSSPEC_CALLER, json.dumps(options), bucket],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


class TestOptionsForOtherCallers:
    """Options persist gives out work for any fsspec caller against an emulator, quickly.

    Recent gcsfs asks a gRPC API, which emulators lack, for each bucket's type and retried each
    failed lookup for a minute: pandas.read_parquet stalled about 60 s per call. persist's own
    filesystems avoided it; the options it handed out did not.
    """

    @pytest.fixture
    def config(self, gcs_endpoint: str) -> DataConfig:
        return DataConfig(gcs=GCSConfig(endpoint=gcs_endpoint, token="anon", project=GCS_PROJECT))

    def check(self, report: dict[str, Any], bucket: str) -> None:
        # Where gcsfs probes bucket types (the child's class is its extended one), the bound
        # below is what is tested; older gcsfs (the lowest leg) has no probe to bound.
        from importlib.util import find_spec

        probing = find_spec("gcsfs.extended_gcsfs") is not None
        assert report["class"] == ("ExtendedGcsFileSystem" if probing else "GCSFileSystem")
        assert report["content"] == "a,b\n1,2\n"
        assert report["listing"] == [f"{bucket}/table.csv"]
        assert report["seconds"] < 15, report

    def test_get_fsspec_storage_options(self, config: DataConfig, gcs_bucket: str) -> None:
        """get_fsspec_storage_options("gs", ...) serves a write, a read and a listing in seconds."""
        self.check(run_fsspec_caller(get_fsspec_storage_options("gs", config), gcs_bucket), gcs_bucket)

    def test_persist_options_gs(self, gcs_endpoint: str, gcs_bucket: str, tmp_path: Path) -> None:
        """The JSON of ``persist options gs`` does the same when passed on as storage_options."""
        config = tmp_path / "gcs.yaml"
        config.write_text(f"gcs:\n  endpoint: {gcs_endpoint}\n  token: anon\n  project: {GCS_PROJECT}\n")
        result = subprocess.run(
            [sys.executable, "-m", "persist", "options", "gs", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false" in result.stderr
        self.check(run_fsspec_caller(json.loads(result.stdout), gcs_bucket), gcs_bucket)
