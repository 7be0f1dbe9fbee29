"""Peak RSS and time of one big upload through persist's obstore engine, by bytes of parts in flight.

    .venv/bin/python -m benchmarks.upload_memory                       # 256 MiB, 3 reps
    .venv/bin/python -m benchmarks.upload_memory --mib 1024 --reps 1   # 1 GiB
    .venv/bin/python -m benchmarks.upload_memory --buffers 64 16       # MiB of parts in flight

It starts moto and Azurite on 127.0.0.1 (tests/integration/servers.py), writes one file of random
bytes, and uploads it once per run in a fresh child process, the settings alternating. Each
``--buffers`` value sets ``persist._obstore._PART_BUFFER`` in the child (the parts of one file in
flight at once hold about this much); ``0`` leaves persist's own value. The child reports the
upload's seconds and its peak RSS (``VmHWM``, imports included) and its RSS before the upload.
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

from benchmarks.listing import _config, start_store

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def _status(field: str) -> float:
    """A ``/proc/self/status`` memory field in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(spec: dict[str, Any]) -> None:
    """One upload in this process; prints {seconds, rss_mib, base_mib} as JSON."""
    import persist._obstore
    from persist import FileAccessProvider

    if spec["buffer"]:
        persist._obstore._PART_BUFFER = spec["buffer"] * MiB
    provider = FileAccessProvider(tempfile.mkdtemp(), spec["root"], _config(spec["store"], spec["where"]))
    provider.exists(spec["root"])  # build the client and open a connection before the clock starts
    base = _status("VmRSS")
    start = time.perf_counter()
    provider.put_data(spec["file"], f"{spec['root']}/big-{spec['run']}.bin")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_mib": _status("VmHWM"), "base_mib": base}))


def main() -> None:
    """Parse the arguments, start the servers, measure, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--buffers", type=int, nargs="+", default=[0])
    parser.add_argument("--stores", nargs="+", default=["s3", "azure"], choices=["s3", "azure"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    sys.path.insert(0, str(REPO))

    work = Path(tempfile.mkdtemp(prefix="upload-memory-"))
    big = work / "big.bin"
    with big.open("wb") as out:
        for _ in range(args.mib):
            out.write(os.urandom(MiB))
    rows: list[str] = []
    run = 0
    try:
        for store in args.stores:
            with ExitStack() as stack:
                where, root = start_store(stack, store, "memory")
                results: dict[int, list[dict[str, Any]]] = {b: [] for b in args.buffers}
                for rep in range(args.reps):
                    order = args.buffers if rep % 2 == 0 else list(reversed(args.buffers))
                    for buffer in order:
                        run += 1
                        spec = {"store": store, "where": where, "root": root, "file": str(big)}
                        spec.update(buffer=buffer, run=run)
                        done = subprocess.run(  # noqa: S603 - our own interpreter and module
                            [sys.executable, "-m", "benchmarks.upload_memory", "--child", json.dumps(spec)],
                            cwd=REPO,
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                        result = json.loads(done.stdout.strip().splitlines()[-1])
                        results[buffer].append(result)
                        print(f"# {store} buffer {buffer} rep {rep}: {result}", file=sys.stderr)
                for buffer, found in results.items():
                    rows.append(_row(store, args.mib, buffer, found))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| store | MiB | parts in flight MiB | seconds | MiB/s | peak RSS MiB | RSS before MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


def _row(store: str, mib: int, buffer: int, results: list[dict[str, Any]]) -> str:
    def cell(values: list[float], digits: int) -> str:
        spread = f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else ""
        return f"{statistics.median(values):.{digits}f}{spread}"

    seconds = [r["seconds"] for r in results]
    return (
        f"| {store} | {mib} | {buffer or 'default'} | {cell(seconds, 2)} | "
        f"{cell([mib / s for s in seconds], 0)} | {cell([r['rss_mib'] for r in results], 0)} | "
        f"{cell([r['base_mib'] for r in results], 0)} |"
    )


if __name__ == "__main__":
    main()
