"""Write a partitioned Parquet dataset from Dask worker processes through one shipped provider.

Each of a ``LocalCluster``'s worker processes receives the same ``FileAccessProvider`` (pickled
once, scattered to every worker), builds its share of the partitions with pyarrow and uploads
them through the provider. The driver then reads the dataset back with
``dask.dataframe.read_parquet(..., storage_options=...)`` using persist's options, and checks every
row and every byte.

Run it against your own store (the config comes from ``DataConfig.auto()``, or ``--config``)::

    .venv/bin/python examples/dask_dataset.py s3://my-bucket/scale-demo/ --parts 200 --workers 4

``tests/integration/test_scale_engines.py`` runs the same functions against moto and Azurite.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from persist import DataConfig, FileAccessProvider, get_fsspec_storage_options
from persist.paths import get_protocol


def partition_frame(index: int, rows: int) -> Any:
    """The deterministic rows of partition ``index`` (a pandas DataFrame)."""
    import pandas as pd

    start = index * rows
    return pd.DataFrame(
        {
            "id": pd.Series(range(start, start + rows), dtype="int64"),
            "part": pd.Series([index] * rows, dtype="int64"),
            "label": [f"row-{i:07d}" for i in range(start, start + rows)],
        }
    )


def write_partition(provider: FileAccessProvider, name: str, index: int, rows: int) -> tuple[str, str]:
    """On a worker: write partition ``index`` as Parquet under ``<raw prefix>/<name>/``.

    Returns:
        The object's URI and the SHA-256 of the bytes uploaded.
    """
    import io

    frame = partition_frame(index, rows)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    uri = provider.put_raw_data(data, upload_prefix=name, file_name=f"part-{index:05d}.parquet")
    return uri, hashlib.sha256(data).hexdigest()


def dataset_uri(provider: FileAccessProvider, name: str) -> str:
    """Where ``write_partition`` puts the dataset ``name``."""
    return provider.join(provider.raw_output_prefix, name)


def check_dataset(
    provider: FileAccessProvider, name: str, parts: int, rows: int, written: list[tuple[str, str]]
) -> int:
    """Read the dataset back with Dask and persist's options; check every row and byte.

    Returns:
        The number of rows read.

    Raises:
        AssertionError: a row or an object differs from what the workers wrote.
    """
    import tempfile
    from pathlib import Path

    import dask.dataframe as dd
    import pandas as pd

    root = dataset_uri(provider, name)
    options = get_fsspec_storage_options(get_protocol(root), provider.data_config)
    frame = dd.read_parquet(root, storage_options=options).compute()
    frame = frame.sort_values("id").reset_index(drop=True)
    expected = pd.concat([partition_frame(i, rows) for i in range(parts)], ignore_index=True)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    # Every object, byte for byte, against the hash its worker computed before uploading.
    with tempfile.TemporaryDirectory() as local:
        provider.download_directory(root, local)
        for uri, digest in written:
            path = Path(local) / uri.rsplit("/", 1)[1]
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise AssertionError(f"{uri}: downloaded bytes differ from the uploaded ones")
        found = len(list(Path(local).iterdir()))
        if found != parts:
            raise AssertionError(f"{root}: {found} objects, expected {parts}")
    return len(frame)


def run(client: Any, provider: FileAccessProvider, name: str, parts: int, rows: int) -> int:
    """Write ``parts`` partitions from the cluster's workers, then check them; returns the rows."""
    # Pickled once and sent to every worker, rather than once per task.
    shipped = client.scatter(provider, broadcast=True)
    futures = [client.submit(write_partition, shipped, name, i, rows, pure=False) for i in range(parts)]
    written = client.gather(futures)
    return check_dataset(provider, name, parts, rows, written)


def local_cluster(workers: int) -> Any:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes (a context manager).

    The scheduler's HTTP server listens on a free local port: ``dashboard_address=None`` would
    still mean port 8787, and a warning when another cluster on the machine has it.
    """
    from dask.distributed import LocalCluster

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
    )


def main() -> None:
    """Parse the command line, start a LocalCluster of worker processes and run the example."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", help="raw output prefix, such as s3://bucket/scale-demo/")
    parser.add_argument("--config", help="a persist YAML config (default: DataConfig.auto())")
    parser.add_argument("--parts", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import tempfile

    from dask.distributed import Client

    config = DataConfig.auto(args.config)
    name = f"dataset-{FileAccessProvider.get_random_string()[:8]}"
    # The sandbox is scratch space for this run only: removed with everything in it at the end.
    with (
        tempfile.TemporaryDirectory(prefix="persist-dask-") as sandbox,
        local_cluster(args.workers) as cluster,
        Client(cluster) as client,
    ):
        provider = FileAccessProvider(sandbox, args.prefix, config)
        rows = run(client, provider, name, args.parts, args.rows)
    where = dataset_uri(provider, name)
    print(f"{args.parts} partitions, {rows} rows written by {args.workers} workers under {where}")


if __name__ == "__main__":
    main()
