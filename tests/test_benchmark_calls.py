"""The small-call latency rows of the benchmark: selection, the report's table, the clients."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import calls
from benchmarks.bench import select_workloads
from benchmarks.report import render_markdown, render_summary
from tests.test_benchmark_report import _row
from tests.test_benchmark_report import report as report  # the fixture


def test_only_calls_selects_the_six_call_workloads() -> None:
    """``--only calls`` runs exists, put and get on S3 and Azure, and nothing else."""
    chosen, startup, _ = select_workloads("calls", include_slow=False)
    assert sorted(w.key for w in chosen) == sorted(
        f"{backend}:calls_{call}" for backend in ("s3", "azure") for call in calls.CALLS
    )
    assert not startup
    assert {w.call for w in chosen} == set(calls.CALLS)


def _calls_report(report: dict[str, Any]) -> dict[str, Any]:
    call = {
        "backend": "s3",
        "workload": "calls_exists",
        "kind": "calls",
        "title": "1,000 sequential exists calls",
        "bytes": 1024000,
        "files": 1000,
        "reps": 3,
        "baseline": "persist",
        "rows": [
            {**_row("persist", 2.05, runs=[2.0, 2.05, 2.3]), "files_per_s": None, "calls_per_s": 1000 / 2.05},
            {**_row("obstore", 2.0, runs=[1.9, 2.0, 2.1]), "files_per_s": None, "calls_per_s": 500.0},
            {**_row("boto3", 4.0, runs=[4.0]), "files_per_s": None, "calls_per_s": 250.0},
        ],
    }
    return {**report, "results": [*report["results"], call]}


def test_call_rows_give_calls_per_second_and_the_per_call_overhead(report: dict[str, Any]) -> None:
    """The table: persist's and the fastest peer's calls/s with ranges, and (2.05 - 2.0) s / 1,000."""
    markdown = render_markdown(_calls_report(report))
    line = next(row for row in markdown.splitlines() if row.startswith("| S3 | 1,000 sequential exists"))
    assert "| 488 (435-500) |" in line
    assert "obstore 500 (476-526)" in line
    assert "| 50 (-100 to 400) |" in line  # µs: median, then fastest vs slowest and back
    assert "| 488 calls/s |" in markdown
    assert "1,000 sequential exists calls" in render_summary(_calls_report(report))
    assert "Per-call overhead" in render_summary(_calls_report(report))


def test_per_call_overhead_is_in_microseconds() -> None:
    assert calls.per_call_overhead_us(2.05, 2.0, 1000) == pytest.approx(50.0)
    assert calls.per_call_overhead_us(None, 2.0, 1000) is None
