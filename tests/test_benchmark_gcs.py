"""The benchmark's GCS rows: which workloads and clients, how children reach fake-gcs-server."""

from __future__ import annotations

from benchmarks.bench import fake_gcs_version, select_workloads
from benchmarks.clients import GCSInfo, Job, child_env
from benchmarks.report import GCS_NOTE, render_markdown


def gcs_job(client: str) -> Job:
    return Job(
        client=client,
        backend="gcs",
        op="down",
        kind="file",
        src="gs://bench-src/big.bin",
        dst="/tmp/x",  # never written
        sandbox="/tmp/sb",  # never written
        gcs=GCSInfo("http://127.0.0.1:4443", "test-project"),
    )


def test_gcs_rows_run_on_a_fresh_server_with_obstore_on_downloads_only() -> None:
    """`--only gcs` gives the four GCS rows (the 20,000-file upload is slow), each on a fresh
    server; obstore, which cannot write to fake-gcs-server, takes part in the downloads only."""
    chosen, startup, left_out = select_workloads("gcs", include_slow=False)
    assert [w.name for w in chosen] == ["file_up", "file_down", "folder_up", "folder_down"]
    assert left_out == ["gcs:many_up"]
    assert not startup
    assert all(w.fresh_server for w in chosen)
    for w in chosen:
        assert ("obstore" in w.clients) == (w.op == "down"), w.key
        assert {"persist", "flytekit", "gcsfs"} <= set(w.clients)


def test_quick_and_full_runs_include_gcs() -> None:
    """With no --only, the GCS rows are part of the run (and so of --quick)."""
    chosen, _, left_out = select_workloads(None, include_slow=False)
    assert {w.key for w in chosen} >= {"gcs:file_up", "gcs:file_down", "gcs:folder_up", "gcs:folder_down"}
    assert "gcs:many_up" in left_out


def test_job_round_trips_its_gcs_server() -> None:
    job = gcs_job("gcsfs")
    assert Job.from_dict(job.to_dict()) == job


def test_flytekit_reaches_the_emulator_through_storage_emulator_host() -> None:
    """flytekit's child gets STORAGE_EMULATOR_HOST; every GCS child has the bucket-type probe off,
    and no child inherits the caller's GCS settings."""
    base = {
        "PATH": "/bin",
        "STORAGE_EMULATOR_HOST": "http://elsewhere",
        "GCSFS_X": "1",
        "GOOGLE_CLOUD_PROJECT": "p",
    }
    flytekit = child_env(gcs_job("flytekit"), base)
    assert flytekit["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:4443"
    assert flytekit["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    gcsfs = child_env(gcs_job("gcsfs"), base)
    assert "STORAGE_EMULATOR_HOST" not in gcsfs
    assert gcsfs["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    assert not {"GCSFS_X", "GOOGLE_CLOUD_PROJECT"} & set(gcsfs)


def test_fake_gcs_version_is_read_from_the_binary() -> None:
    """The bundled binary's Go build information names its version (v1.x.y)."""
    assert fake_gcs_version().startswith("v1.")


def test_report_has_a_gcs_section_with_its_note() -> None:
    """GCS results get their own table, and the note on fresh servers and obstore's writes."""
    row = {
        "client": "persist",
        "median_seconds": 1.0,
        "median_cpu_seconds": 0.5,
        "median_server_busy": 0.2,
        "median_process_seconds": 1.5,
        "median_peak_rss_mib": 90.0,
        "mb_per_s": 268.4,
        "files_per_s": None,
        "ratio_to_persist": 1.0,
        "runs": [{"rep": 0, "ok": True, "seconds": 1.0, "cpu_seconds": 0.5, "peak_rss_mib": 90.0}],
    }
    result = {
        "backend": "gcs",
        "workload": "file_down",
        "title": "256 MiB file down",
        "bytes": 256 * 1024 * 1024,
        "files": 1,
        "reps": 1,
        "baseline": "persist",
        "rows": [row],
        "warmup": None,
    }
    machine = {"cpu": "x", "cores": 2, "ram_gib": 1, "os": "linux", "python": "3.11", "packages": {}}
    machine |= {"s5cmd": "v", "azurite": "3", "node": "v20", "fake-gcs-server": "v1.54.0"}
    report = {
        "date": "2026-12-02T00:00:00+00:00",
        "duration_seconds": 60,
        "partial": False,
        "machine": machine,
        "settings": {
            "quick": False,
            "reps": 1,
            "many_reps": 1,
            "timeout": 600,
            "sizes": {
                "big_bytes": 256 * 1024 * 1024,
                "small_files": 2000,
                "small_bytes": 4096,
                "many_files": 20000,
                "many_bytes": 1024,
            },
            "clients": ["persist"],
            "baseline": "persist",
            "not_run": [],
            "argv": [],
        },
        "server_restarts": [],
        "results": [result],
        "startup": [],
    }
    text = render_markdown(report)
    assert "## GCS (fake-gcs-server on 127.0.0.1)" in text
    assert GCS_NOTE in text
    assert "fake-gcs-server v1.54.0 (GCS)" in text
