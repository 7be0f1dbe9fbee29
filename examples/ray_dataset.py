"""The Dask example's shape with Ray: remote tasks write Parquet parts through one shipped provider.

``ray.put`` stores the pickled provider once in Ray's object store; every remote task gets it
from there, writes its partition with pyarrow and uploads it through the provider. The driver
then reads the dataset back with Dask and persist's options and checks every row and byte
(``examples/dask_dataset.py``'s check).

Run it with a local Ray (``pip install 'persist[scale]'``)::

    .venv/bin/python examples/ray_dataset.py s3://my-bucket/scale-demo/ --parts 200 --workers 2

``tests/integration/test_scale_engines.py`` runs ``run`` against moto.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from persist import DataConfig, FileAccessProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dask_dataset import check_dataset, dataset_uri, write_partition


def run(provider: FileAccessProvider, name: str, parts: int, rows: int) -> int:
    """Write ``parts`` partitions from Ray tasks (``ray.init`` already called), then check them."""
    # Ray's workers cannot import this example's modules: send the functions by value.
    import dask_dataset
    import ray

    ray.cloudpickle.register_pickle_by_value(dask_dataset)
    remote_write = ray.remote(num_cpus=1)(write_partition)
    shipped = ray.put(provider)
    written: list[tuple[str, str]] = ray.get(
        [remote_write.remote(shipped, name, i, rows) for i in range(parts)]
    )
    return check_dataset(provider, name, parts, rows, written)


def main() -> None:
    """Parse the command line, start a local Ray and run the example."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", help="raw output prefix, such as s3://bucket/scale-demo/")
    parser.add_argument("--config", help="a persist YAML config (default: DataConfig.auto())")
    parser.add_argument("--parts", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="CPUs Ray may use")
    args = parser.parse_args()

    import tempfile

    import ray

    config = DataConfig.auto(args.config)
    name = f"dataset-{FileAccessProvider.get_random_string()[:8]}"
    # The sandbox is scratch space for this run only: removed with everything in it at the end.
    with tempfile.TemporaryDirectory(prefix="persist-ray-") as sandbox:
        provider = FileAccessProvider(sandbox, args.prefix, config)
        ray.init(num_cpus=args.workers, include_dashboard=False)
        try:
            rows = run(provider, name, args.parts, args.rows)
        finally:
            ray.shutdown()
    where = dataset_uri(provider, name)
    print(f"{args.parts} partitions, {rows} rows written by Ray tasks under {where}")


if __name__ == "__main__":
    main()
