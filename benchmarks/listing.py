"""Folder downloads at scale: time to the first file, total time and peak RSS, by key count.

    .venv/bin/python -m benchmarks.listing                      # 2,000 and 20,000 keys, 3 reps
    .venv/bin/python -m benchmarks.listing --keys 2000 --reps 1 # quicker
    .venv/bin/python -m benchmarks.listing --before REF         # also persist at git REF, alternating
    .venv/bin/python -m benchmarks.listing --engine fsspec      # persist's fsspec engine (s3fs, adlfs)

It starts moto and Azurite on 127.0.0.1 (tests/integration/servers.py), writes ``keys`` objects
of 64 bytes under one prefix per count, then downloads each prefix in a fresh child process per
run, through persist's default engine (obstore) or the one ``--engine`` names. The child reports
the seconds until the first file was complete (persist's progress listener), the total seconds,
and its own peak RSS (VmHWM). With
``--before``, ``git archive REF persist`` is unpacked in a temporary folder and its runs alternate
with the working tree's. Prints one Markdown table of medians (and spreads).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _config(store: str, where: dict[str, str], engine: str | None = None) -> Any:
    from persist import AzureBlobStorageConfig, DataConfig, S3Config
    from persist.config import GenericPersistenceConfig

    if engine:
        # The engine alone is set here; every other field keeps its default.
        generic = GenericPersistenceConfig(engine=engine)  # type: ignore[arg-type,unused-ignore]
        return _config(store, where).model_copy(update={"generic": generic})
    if store == "s3":
        return DataConfig(
            s3=S3Config(
                endpoint=where["endpoint"],
                access_key_id="testing",
                secret_access_key="testing",  # noqa: S106 - moto's throwaway credentials
                addressing_style="path",
                region="us-east-1",
            )
        )
    return DataConfig(
        azure=AzureBlobStorageConfig(
            account_name=where["account"], account_key=where["key"], account_host=where["endpoint"]
        )
    )


def use_code(code: str) -> None:
    """Import persist from ``code``: ahead of the path, and past an editable install's finder.

    An editable install puts a finder on ``sys.meta_path``, which Python asks before
    ``sys.path``: without this, every run would import the working tree's persist.
    """
    sys.meta_path[:] = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    sys.path.insert(0, code)


def child(spec: dict[str, Any]) -> None:
    """One download in this process; prints {first, total, rss_mib, files, code} as JSON."""
    use_code(spec["code"])
    import persist
    from persist import FileAccessProvider

    out = tempfile.mkdtemp(prefix="listing-out-")
    config = _config(spec["store"], spec["where"], spec.get("engine"))
    provider = FileAccessProvider(out + "-sandbox", spec["uri"], config)
    provider.exists(spec["uri"])  # build the client and open a connection before the clock starts
    first: list[float] = []

    def progress(files: int, nbytes: int, **totals: Any) -> None:
        if files and not first:
            first.append(time.perf_counter())

    start = time.perf_counter()
    provider.get_data(spec["uri"], out, is_multipart=True, progress=progress)
    total = time.perf_counter() - start
    count = sum(len(files) for _, _, files in os.walk(out))
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out + "-sandbox", ignore_errors=True)
    # VmHWM, not getrusage: ru_maxrss survives exec, so it would be the parent's when larger.
    rss = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    print(
        json.dumps(
            {
                "first": first[0] - start,
                "total": total,
                "rss_mib": rss,
                "files": count,
                "code": persist.__file__,
            }
        )
    )


def _run_child(code: Path, spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.listing", "--child", json.dumps({**spec, "code": str(code)})],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["code"].startswith(str(code)):
        raise RuntimeError(f"the child imported persist from {result['code']}, not from {code}")
    if result["files"] != spec["keys"]:
        raise RuntimeError(f"expected {spec['keys']} files, got {result['files']}")
    return result


def _seed(store: str, where: dict[str, str], root: str, keys: int, work: Path) -> str:
    from persist import FileAccessProvider

    local = work / f"seed-{keys}"
    for i in range(keys):
        sub = local / f"d{i // 100:04d}"
        if i % 100 == 0:
            sub.mkdir(parents=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(64))
    uri = f"{root}/k{keys}"
    provider = FileAccessProvider(str(work / "sandbox"), root, _config(store, where))
    provider.put_data(str(local), uri, is_multipart=True)
    shutil.rmtree(local)
    return uri


def start_store(stack: ExitStack, store: str, bucket: str) -> tuple[dict[str, str], str]:
    """A fresh server for ``store`` (``s3``: moto, ``azure``: Azurite) with an empty ``bucket``.

    The server stops with ``stack``. Returns what ``_config`` needs to reach it and the bucket's
    root URI.
    """
    from tests.integration import servers as srv

    if store == "s3":
        endpoint = stack.enter_context(srv.moto_server())
        stack.enter_context(srv.moto_client(endpoint)).create_bucket(Bucket=bucket)
        return {"endpoint": endpoint}, f"s3://{bucket}"
    from azure.storage.blob import BlobServiceClient

    info = stack.enter_context(srv.azurite_server())
    BlobServiceClient.from_connection_string(info.connection_string).create_container(bucket)
    where = {"endpoint": info.blob_endpoint, "account": info.account_name, "key": info.account_key}
    return where, f"abfs://{bucket}"


def main() -> None:
    """Parse the arguments, start the servers, seed, measure, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--stores", nargs="+", default=["s3", "azure"], choices=["s3", "azure"])
    parser.add_argument("--before", help="a git ref whose persist runs alternate with the working tree's")
    parser.add_argument("--engine", choices=["obstore", "fsspec"], help="persist's engine (default: its own)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    sys.path.insert(0, str(REPO))

    work = Path(tempfile.mkdtemp(prefix="listing-bench-"))
    codes: dict[str, Path] = {"after": REPO}
    if args.before:
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(  # noqa: S603
            ["git", "-C", str(REPO), "archive", args.before, "persist"],  # noqa: S607
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)  # noqa: S603, S607
        codes = {"before": before, "after": REPO}
    rows: list[str] = []
    try:
        with ExitStack() as stack:
            for store in args.stores:
                where, root = start_store(stack, store, "listing")
                for keys in args.keys:
                    started = time.perf_counter()
                    uri = _seed(store, where, root, keys, work)
                    print(
                        f"# {store}: seeded {keys} keys in {time.perf_counter() - started:.1f} s",
                        file=sys.stderr,
                    )
                    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
                    spec = {"store": store, "where": where, "uri": uri, "keys": keys, "engine": args.engine}
                    for rep in range(args.reps):
                        order = list(codes) if rep % 2 == 0 else list(reversed(codes))
                        for name in order:
                            result = _run_child(codes[name], spec)
                            runs[name].append(result)
                            print(f"# {store} {keys} {name} rep {rep}: {result}", file=sys.stderr)
                    for name, results in runs.items():
                        rows.append(_row(store, keys, name, results))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| store | keys | code | first file s | total s | peak RSS MiB |")
    print("|---|---:|---|---:|---:|---:|")
    print("\n".join(rows))


def _row(store: str, keys: int, name: str, results: list[dict[str, Any]]) -> str:
    def cell(field: str, digits: int) -> str:
        values = [r[field] for r in results]
        spread = f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else ""
        return f"{statistics.median(values):.{digits}f}{spread}"

    return f"| {store} | {keys:,} | {name} | {cell('first', 3)} | {cell('total', 2)} | {cell('rss_mib', 0)} |"


if __name__ == "__main__":
    main()
