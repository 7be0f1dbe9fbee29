"""The benchmark's report: the README summary compares persist with the fastest peer and flytekit."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report import README_END, README_START, render_markdown, render_summary, update_readme


def _row(
    client: str,
    seconds: float | None,
    rss: float = 50.0,
    runs: list[float] | None = None,
    cpu: float = 1.0,
    busy: float | None = None,
) -> dict[str, Any]:
    """One client's row; ``runs`` are its repetitions' seconds (default: one run of ``seconds``)."""
    ok = seconds is not None
    return {
        "client": client,
        "median_seconds": seconds,
        "median_cpu_seconds": cpu if ok else None,
        "median_server_busy": busy,
        "median_process_seconds": seconds,
        "median_peak_rss_mib": rss if ok else None,
        "mb_per_s": None,
        "files_per_s": 100.0 if ok else None,
        "ratio_to_persist": None,
        "runs": [
            {
                "rep": rep,
                "ok": ok,
                "seconds": value,
                "cpu_seconds": cpu if ok else None,
                "process_seconds": value,
                "peak_rss_mib": rss if ok else None,
                "rss_of": "python",
                "error": None if ok else "timeout",
            }
            for rep, value in enumerate(runs or [seconds])
        ],
    }


@pytest.fixture
def report() -> dict[str, Any]:
    return {
        "date": "2026-11-23T12:00:00+00:00",
        "duration_seconds": 60.0,
        "partial": False,
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "ram_gib": 4,
            "os": "Linux",
            "python": "3.11.7",
            "azurite": "3.35.0",
            "node": "v20",
            "s5cmd": "v2",
            "packages": {"moto": "5"},
        },
        "settings": {
            "reps": 3,
            "many_reps": 1,
            "baseline": "persist",
            "argv": [],
            "not_run": [],
            "sizes": {
                "big_bytes": 1048576,
                "small_files": 10,
                "small_bytes": 4096,
                "many_files": 20000,
                "many_bytes": 1024,
            },
        },
        "server_restarts": [],
        "results": [
            {
                "backend": "s3",
                "workload": "folder_up",
                "title": "10 x 4 KiB files up",
                "bytes": 40960,
                "files": 10,
                "reps": 3,
                "baseline": "persist",
                "rows": [
                    _row("persist", 2.0, rss=40, busy=0.97),
                    _row("flytekit", 5.0, rss=200),
                    _row("obstore", 2.5, rss=30, cpu=1.5, busy=0.82),
                    _row("boto3", None),
                ],
            }
        ],
        "startup": [],
    }


def test_summary_compares_with_fastest_peer_and_flytekit(report: dict[str, Any]) -> None:
    """Ratios are peer time over persist time; a failed peer is not the fastest."""
    lines = render_summary(report).splitlines()
    assert (
        "| S3 | 10 x 4 KiB files up | 2.00 s | obstore 2.50 s | 1.25 | 1.25-1.25 | 1.50 | 0.97 / 0.82 "
        "| 2.50 | 40 "
        "| flytekit 200, obstore 30 |" in lines
    )
    assert lines[0].startswith("Measured 2026-11-23 on Test CPU, 2 cores")


@pytest.mark.parametrize(
    ("peer_runs", "expected"),
    [
        pytest.param([1.7, 1.9, 2.1], "0.95 ≈", id="runs-overlap"),
        pytest.param([1.5, 1.6, 1.7], "0.80", id="peer-faster-in-every-run"),
        pytest.param([2.0, 2.2, 2.3], "1.10", id="persist-faster"),
    ],
)
def test_summary_marks_a_lower_ratio_within_the_runs_spread(
    report: dict[str, Any], peer_runs: list[float], expected: str
) -> None:
    """A peer faster by the medians is marked ≈ only when persist's fastest run beat its slowest."""
    report["results"][0]["rows"] = [
        _row("persist", 2.0, runs=[1.8, 2.0, 2.4]),
        _row("obstore", sorted(peer_runs)[1], runs=peer_runs),
    ]
    summary = render_summary(report)
    row = next(line for line in summary.splitlines() if line.startswith("| S3 |"))
    assert row.split(" | ")[4] == expected
    assert "≈ marks a ratio below 1 where the runs overlap" in summary


def test_summary_gives_the_ratio_range_over_the_runs(report: dict[str, Any]) -> None:
    """The range runs from the peer's fastest ÷ persist's slowest to its slowest ÷ persist's fastest."""
    report["results"][0]["rows"] = [
        _row("persist", 2.0, runs=[1.6, 2.0, 2.5]),
        _row("obstore", 2.4, runs=[2.0, 2.4, 3.2]),
    ]
    summary = render_summary(report)
    row = next(line for line in summary.splitlines() if line.startswith("| S3 |"))
    assert row.split(" | ")[4:6] == ["1.20", "0.80-2.00"]
    assert "from the peer's fastest run ÷ persist's slowest" in summary


def test_full_table_gives_each_peers_ratio_with_its_range(report: dict[str, Any]) -> None:
    report["results"][0]["rows"] = [
        _row("persist", 2.0, runs=[1.6, 2.0, 2.5]),
        _row("obstore", 2.4, runs=[2.0, 2.4, 3.2]),
    ]
    report["results"][0]["rows"][1]["ratio_to_persist"] = 1.2
    report["results"][0]["rows"][0]["ratio_to_persist"] = 1.0
    lines = render_markdown(report).splitlines()
    peer = next(line for line in lines if line.startswith("| 10 x 4 KiB files up | obstore "))
    assert peer.split(" | ")[8] == "1.20 (0.80-2.00)"
    mine = next(line for line in lines if line.startswith("| 10 x 4 KiB files up | persist "))
    assert mine.split(" | ")[8] == "1.00 (baseline)"


def _with_first_file(row: dict[str, Any], firsts: list[float]) -> dict[str, Any]:
    """``row`` whose runs marked their first file after ``firsts`` seconds."""
    for run, first in zip(row["runs"], firsts, strict=True):
        run["marks"] = {"first_file": first}
    row["median_marks"] = {"first_file": sorted(firsts)[len(firsts) // 2]}
    return row


def test_marks_get_a_column_only_where_a_workload_has_them(report: dict[str, Any]) -> None:
    """A child's first-file time shows in its backend's table and in a summary table of its own."""
    assert "First file (s)" not in render_markdown(report)
    assert "First file" not in render_summary(report)
    report["results"][0]["rows"] = [
        _with_first_file(_row("persist", 2.0, runs=[1.9, 2.0, 2.1]), [0.2, 0.25, 0.3]),
        _with_first_file(_row("obstore", 2.5, runs=[2.4, 2.5, 2.6]), [1.0, 0.5, 0.6]),
        _row("boto3", 3.0),
    ]
    full = render_markdown(report).splitlines()
    assert any("| Peak RSS (MiB) | First file (s) | Ratio" in line for line in full)
    persist_row = next(line for line in full if line.startswith("| 10 x 4 KiB files up | persist "))
    assert persist_row.split(" | ")[8] == "0.250 (0.200-0.300)"
    boto_row = next(line for line in full if line.startswith("| 10 x 4 KiB files up | boto3 "))
    assert boto_row.split(" | ")[8] == "—"
    summary = render_summary(report).splitlines()
    assert (
        "| S3 | 10 x 4 KiB files up | First file | 0.250 (0.200-0.300) | obstore 0.600 (0.500-1.00) "
        "| 2.40 | 1.67-5.00 |" in summary
    )


def test_a_child_reports_its_marks_as_seconds_from_the_transfers_start(tmp_path: Path) -> None:
    """``mark`` keeps the first occurrence; the child writes it relative to the transfer's start."""
    import subprocess
    import sys

    snippet = (
        "import json, sys, time\n"
        "from benchmarks import clients\n"
        "def fake(job):\n"
        "    def transfer():\n"
        "        time.sleep(0.05)\n"
        "        clients.mark('first_file')\n"
        "        time.sleep(0.05)\n"
        "        clients.mark('first_file')\n"
        "    return transfer\n"
        "clients.CLIENTS['fake'] = fake\n"
        "sys.exit(clients.run_child(sys.argv[1]))\n"
    )
    job = {
        "client": "fake",
        "backend": "local",
        "op": "down",
        "kind": "folder",
        "src": str(tmp_path),
        "dst": str(tmp_path / "out"),
        "sandbox": str(tmp_path),
    }
    spec = tmp_path / "spec.json"
    result = tmp_path / "result.json"
    spec.write_text(json.dumps({"job": job, "result": str(result)}))
    subprocess.run([sys.executable, "-c", snippet, str(spec)], check=True, cwd=Path(__file__).parents[1])
    outcome = json.loads(result.read_text())
    assert outcome["ok"], outcome
    assert 0.04 <= outcome["marks"]["first_file"] < outcome["seconds"] - 0.04


def test_full_table_shows_each_clients_spread_and_cpu(report: dict[str, Any]) -> None:
    report["results"][0]["rows"][0] = _row("persist", 2.0, runs=[1.8, 2.0, 2.4], cpu=0.75)
    row = next(
        line
        for line in render_markdown(report).splitlines()
        if line.startswith("| 10 x 4 KiB files up | persist ")
    )
    assert row.split(" | ")[2:6] == ["**2.00**", "1.80-2.40", "100 files/s", "0.75"]


def test_server_busy_is_the_median_share_of_each_run_the_server_was_on_the_cpu() -> None:
    """Each run's server CPU over its own time, then the median; runs without a figure are left out."""
    from benchmarks.bench import Row, Run

    row = Row(
        "persist",
        [
            Run(rep=0, ok=True, seconds=2.0, server_cpu_seconds=1.9),
            Run(rep=1, ok=True, seconds=4.0, server_cpu_seconds=2.0),
            Run(rep=2, ok=True, seconds=1.0, server_cpu_seconds=0.9),
            Run(rep=3, ok=True, seconds=1.0),
            Run(rep=4, ok=False, error="timed out", server_cpu_seconds=5.0),
        ],
    )
    assert row.median_server_busy == pytest.approx(0.9)
    assert Row("obstore", [Run(rep=0, ok=True, seconds=1.0)]).median_server_busy is None


def test_a_process_cpu_time_is_read_from_proc() -> None:
    """The benchmark reads a process's CPU time (the server's) from /proc."""
    from benchmarks.clients import process_cpu_seconds

    before = process_cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = process_cpu_seconds(os.getpid())
    assert after is not None
    assert after >= before + 0.03
    assert process_cpu_seconds(None) is None


def test_failed_runs_stay_visible_in_the_full_table(report: dict[str, Any]) -> None:
    """A client whose runs all failed keeps its row, with the reason."""
    rows = [
        line
        for line in render_markdown(report).splitlines()
        if line.startswith("| 10 x 4 KiB files up | boto3 ")
    ]
    assert len(rows) == 1
    assert "timeout" in rows[0]


def test_update_readme_replaces_only_between_markers(report: dict[str, Any]) -> None:
    readme = f"intro\n{README_START}\nold table\n{README_END}\noutro\n"
    updated = update_readme(readme, report)
    assert updated.startswith(f"intro\n{README_START}\nMeasured 2026-11-23")
    assert updated.endswith(f"\n{README_END}\noutro\n")
    assert "old table" not in updated
    assert update_readme(updated, report) == updated


def test_local_rows_name_their_filesystem(report: dict[str, Any]) -> None:
    """Local results say where they ran: tmpfs figures mean something else than a disk's."""
    local = dict(report["results"][0], backend="local", workload="folder_put", title="10 x 4 KiB folder put")
    local["rows"] = [_row("persist", 0.1), _row("flytekit", 0.3), _row("cp", 0.05)]
    report["results"] = [local]
    report["machine"]["local_fs"] = "tmpfs at /dev/shm"
    assert (
        "| local (tmpfs) | 10 x 4 KiB folder put | 0.100 s | cp 0.050 s | 0.50 | 0.50-0.50 | 1.00 "
        "| — / — | 3.00 |" in (render_summary(report))
    )
    full = render_markdown(report)
    assert "## Local filesystem (tmpfs at /dev/shm)" in full
    assert "in memory (tmpfs)" in full


def test_filesystem_of_reads_the_mount_table() -> None:
    """The benchmark names the filesystem its local folders are on."""
    from benchmarks.bench import filesystem_of

    assert filesystem_of(Path("/proc/self")) == "proc"
    assert filesystem_of(Path("/")) not in {"unknown", "proc"}


def test_client_order_rotates_between_repetitions_and_between_workloads() -> None:
    """Each client leads one repetition in turn, and workloads run once do not all start alike."""
    from benchmarks.bench import run_order

    labels = ["persist", "obstore", "boto3"]
    assert [run_order(labels, rep, 0)[0] for rep in range(3)] == labels
    assert [run_order(labels, 0, position)[0] for position in range(3)] == labels
    assert sorted(run_order(labels, 4, 7)) == sorted(labels)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        pytest.param(
            "rotated by repetition and by workload", "between repetitions and between workloads", id="new"
        ),
        pytest.param(None, "rotates between repetitions. ", id="older-report"),
    ],
)
def test_method_text_says_how_the_order_rotated(
    report: dict[str, Any], order: str | None, expected: str
) -> None:
    """A report says how its own runs were ordered, so an older report is not described as a newer one."""
    if order is not None:
        report["settings"]["order"] = order
    assert expected in render_markdown(report)


class _FakeBench:
    """Stands in for ``Bench``: records which client ran which workload, and in which repetition."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.calls: list[tuple[str, str, int]] = []

    def measure(self, workload: Any, label: str, rep: int) -> Any:
        from benchmarks.bench import Run

        self.calls.append((workload.key, label, rep))
        return Run(rep=rep, ok=True, seconds=9.0 if rep < 0 else 1.0)


def test_each_workload_starts_with_a_warm_up_run_that_is_not_counted(tmp_path: Path) -> None:
    """The first run on a server belongs to no client's median; fresh-server workloads need none."""
    from typing import cast

    from benchmarks.bench import Bench, Dataset, Workload, run_workloads

    data = {"big": Dataset("big", tmp_path, {"": 1024}), "many": Dataset("many", tmp_path, {"a": 1024})}
    workloads = [
        Workload("s3", "file_up", "up", "file", "big", ("persist", "boto3")),
        Workload("s3", "file_down", "down", "file", "big", ("persist", "boto3")),
        Workload(
            "s3",
            "many_up",
            "up",
            "folder",
            "many",
            ("persist", "boto3"),
            limited_reps=True,
            fresh_server=True,
        ),
    ]
    labels_for = {w.key: list(w.clients) for w in workloads}
    bench = _FakeBench(data)
    results = run_workloads(
        cast(Bench, bench), workloads, labels_for, reps=2, many_reps=1, on_result=lambda _: None
    )

    # Each workload's warm-up goes to the client that leads its first repetition.
    assert bench.calls[:3] == [
        ("s3:file_up", "persist", -1),
        ("s3:file_up", "persist", 0),
        ("s3:file_up", "boto3", 0),
    ]
    assert ("s3:file_down", "boto3", -1) in bench.calls
    assert not [call for call in bench.calls if call[0] == "s3:many_up" and call[2] < 0]
    for result in results:
        assert all(run.seconds == 1.0 for row in result.rows.values() for run in row.runs)
    as_json = results[0].to_dict("persist")
    assert as_json["warmup"]["client"] == "persist"
    assert as_json["warmup"]["seconds"] == 9.0
    assert results[2].to_dict("persist")["warmup"] is None


def test_the_full_table_lists_the_warm_up_runs_and_the_method_explains_them(report: dict[str, Any]) -> None:
    """The uncounted runs stay visible, and a report says whether its workloads had them."""
    report["results"][0]["warmup"] = {"client": "obstore", "ok": True, "seconds": 4.12, "error": None}
    assert "begins with one run" not in render_markdown(report)
    report["settings"]["warmup"] = "one run per workload before the repetitions, not counted"
    text = render_markdown(report)
    assert "Warm-up runs (not counted): folder_up obstore 4.12 s." in text
    assert "begins with one run of the first client in the order that is not counted" in text


def test_the_summary_gives_the_repetitions_of_the_many_file_upload(report: dict[str, Any]) -> None:
    """``--many-reps 2`` is reported as 2, not as a fixed 1."""
    report["settings"]["reps"] = 5
    report["settings"]["many_reps"] = 2
    assert "medians of 5 (2 for the 20,000-file upload and download)" in render_summary(report)


def test_children_make_their_temporary_files_in_the_benchmarks_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flytekit's sandbox folders go where the benchmark removes them, and no storage settings leak."""
    import subprocess
    import sys

    from benchmarks.bench import _children_tmpdir
    from benchmarks.clients import clean_env

    monkeypatch.setenv("TMPDIR", "/somewhere/else")
    monkeypatch.setenv("FLYTE_AWS_ENDPOINT", "http://example.invalid")
    snippet = (
        "import os, tempfile; print(tempfile.mkdtemp(prefix='flyte-'));"
        " print(os.environ.get('FLYTE_AWS_ENDPOINT'))"
    )
    with _children_tmpdir(tmp_path / "tmp"):
        env = clean_env(os.environ)
        made, endpoint = subprocess.run(
            [sys.executable, "-c", snippet], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
    assert Path(made).parent == tmp_path / "tmp"
    assert endpoint == "None"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.environ["TMPDIR"] == "/somewhere/else"


def test_each_backends_20000_key_download_runs_before_its_fresh_server_uploads() -> None:
    """``many_up`` restarts its server for every run, which would drop the seeded 20,000 keys."""
    from benchmarks.bench import all_workloads

    keys = [w.key for w in all_workloads()]
    for backend in ("s3", "azure"):
        assert keys.index(f"{backend}:many_down") + 1 == keys.index(f"{backend}:many_up")
    assert {"s3:huge_up", "azure:huge_up"} <= set(keys)


def test_marks_reach_the_json_as_medians_of_the_runs_that_have_them() -> None:
    """Failed runs' marks are left out, like their times."""
    from benchmarks.bench import Result, Row, Run, Workload

    workload = Workload("s3", "many_down", "down", "folder", "many", ("persist",))
    result = Result(workload, "t", 1, 1, 3)
    result.rows = {
        "persist": Row(
            "persist",
            [
                Run(rep=0, ok=True, seconds=1.0, marks={"first_file": 0.1}),
                Run(rep=1, ok=True, seconds=1.0, marks={"first_file": 0.3}),
                Run(rep=2, ok=True, seconds=1.0),
                Run(rep=3, ok=False, error="x", marks={"first_file": 9.0}),
            ],
        )
    }
    row = result.to_dict("persist")["rows"][0]
    assert row["median_marks"] == {"first_file": pytest.approx(0.2)}
    assert row["runs"][0]["marks"] == {"first_file": 0.1}
