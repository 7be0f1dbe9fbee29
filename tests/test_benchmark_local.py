"""The benchmark's local file workloads (issue 21, section 4): wired up, run for real, checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from benchmarks.bench import LOCAL_CLIENTS, Bench, Servers, all_workloads, make_big, select_workloads


def test_local_selects_the_folder_and_the_file_workloads() -> None:
    chosen, _, _ = select_workloads("local", include_slow=False)
    assert [w.key for w in chosen] == [
        "local:folder_put",
        "local:folder_get",
        "local:file_put",
        "local:file_get",
    ]
    assert all(w.clients == LOCAL_CLIENTS for w in chosen)


def test_the_file_rows_say_what_they_move(tmp_path: Path) -> None:
    big = make_big(tmp_path / "big.bin", 3 * 1024 * 1024)
    data = {"local_big": dataclasses.replace(big, name="local_big")}
    titles = {w.name: w.title(data) for w in all_workloads() if w.dataset == "local_big"}
    assert titles == {"file_put": "3 MiB local file put_data", "file_get": "3 MiB local file get_data"}


@pytest.mark.parametrize("workload", ["file_put", "file_get"])
@pytest.mark.parametrize("client", ["persist", "cp"])
def test_a_run_copies_the_file_and_is_verified(tmp_path: Path, workload: str, client: str) -> None:
    """One real child process per run; the parent checks the copy's size and SHA-256."""
    big = make_big(tmp_path / "big.bin", 2 * 1024 * 1024 + 5)
    data = {"local_big": dataclasses.replace(big, name="local_big")}
    servers: Any = SimpleNamespace(pids={})
    bench = Bench(tmp_path / "work", data, cast(Servers, servers), 60, engines={}, local_root=tmp_path)
    [chosen] = [w for w in all_workloads() if w.backend == "local" and w.name == workload]
    run = bench.measure(chosen, client, 0)
    assert run.ok, run.error
    assert run.seconds is not None
    assert run.seconds > 0
    assert not (tmp_path / "out" / "00001").exists()  # each run's copy is removed after the check
