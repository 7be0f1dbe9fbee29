"""Dask (and Ray) worker processes write through one shipped provider; the dataset reads back whole.

These start real engines (a Dask ``LocalCluster`` of worker processes, a local Ray), so they are
marked ``scale``; ``scripts/test`` and CI run them with the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples import dask_dataset
from persist import AzureBlobStorageConfig, DataConfig, FileAccessProvider
from tests.integration.servers import S3_ACCESS_KEY, S3_SECRET_KEY, AzuriteInfo
from tests.integration.test_s3 import s3_config

pytestmark = [
    pytest.mark.scale,
    # dask's Parquet reader still calls reset_index(inplace=True), which pandas 3.1 deprecates;
    # dask's problem, not persist's (it shows when the read runs in this process).
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index:Warning"),
]

PARTS = 200
"""Partitions (objects) each dataset has: a few hundred files, as issue 19 asks."""

ROWS = 20


@pytest.fixture(scope="module")
def dask_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Dask client on a LocalCluster of two single-threaded worker processes."""
    distributed = pytest.importorskip("dask.distributed")
    import dask

    with (
        # Dask's scratch space and lock files, which it would otherwise leave in the system's /tmp.
        dask.config.set({"temporary-directory": str(tmp_path_factory.mktemp("dask"))}),
        # On a free port: the warning Dask gives when 8787 is taken would fail the fixture.
        dask_dataset.local_cluster(2) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _worker_pids(client: Any) -> set[int]:
    return set(client.run(os.getpid).values())


def test_dask_workers_write_a_dataset_to_s3(
    dask_client: Any, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """200 Parquet parts written from two worker processes to moto read back row for row, byte for byte."""
    provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/raw", s3_config(s3_endpoint))
    pids = _worker_pids(dask_client)
    assert len(pids) == 2
    assert os.getpid() not in pids, "the workers must be processes, not threads of this one"
    rows = dask_dataset.run(dask_client, provider, "dataset", PARTS, ROWS)
    assert rows == PARTS * ROWS


def test_dask_workers_write_a_dataset_to_azure(
    dask_client: Any, azurite: AzuriteInfo, azure_container: str, tmp_path: Path
) -> None:
    """The same on Azurite, through the abfs options persist builds for an http emulator."""
    config = DataConfig(
        azure=AzureBlobStorageConfig(
            account_name=azurite.account_name,
            account_key=azurite.account_key,
            account_host=azurite.blob_endpoint,
        )
    )
    provider = FileAccessProvider(tmp_path / "sb", f"abfs://{azure_container}/raw", config)
    rows = dask_dataset.run(dask_client, provider, "dataset", PARTS, ROWS)
    assert rows == PARTS * ROWS


def test_ray_example_writes_a_dataset_to_s3(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    """examples/ray_dataset.py as a user runs it: local Ray tasks write 200 parts to moto, all read back.

    In its own process: Ray starts helper processes and threads that outlive ``ray.shutdown``
    by a moment, which this test process should not have to tolerate.
    """
    pytest.importorskip("ray")
    config = tmp_path / "moto.yaml"
    config.write_text(
        f"s3:\n  endpoint: {s3_endpoint}\n  access_key_id: {S3_ACCESS_KEY}\n"
        f"  secret_access_key: {S3_SECRET_KEY}\n  addressing_style: path\n  region: us-east-1\n"
    )
    example = Path(__file__).resolve().parents[2] / "examples" / "ray_dataset.py"
    command = [sys.executable, str(example), f"s3://{s3_bucket}/raw", "--config", str(config)]
    command += ["--parts", str(PARTS), "--rows", str(ROWS), "--workers", "2"]
    # Ray's session files go in a folder of their own, removed after the run. Not in tmp_path:
    # Ray's socket paths under it would pass the 107 characters a Unix socket path may have.
    ray_tmp = tempfile.mkdtemp(prefix="ray-")
    # The example's own temporary folders go in tmp_path/tmp, so that what it leaves is its own
    # and not another process's on the same machine.
    user_tmp = tmp_path / "tmp"
    user_tmp.mkdir()
    env = {
        **os.environ,
        "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
        "RAY_TMPDIR": ray_tmp,
        "TMPDIR": str(user_tmp),
    }
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(user_tmp.glob("persist-ray-*")) == [], "the example left its sandbox"
    assert f"{PARTS} partitions, {PARTS * ROWS} rows written by Ray tasks" in done.stdout
