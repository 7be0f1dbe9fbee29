"""Endpoints that accept a connection and then stop answering end in persist's error, in time.

Every engine and backend is driven through persist against a real socket on 127.0.0.1 that
misbehaves (``stallserver.py``): one that never answers, one that sends headers and then no
body. The limits are short (1 s) and the bounds generous, so the suite stays fast and the
tests do not flake on a busy machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from persist import DataConfig, FileAccessProvider
from persist._fs import clear_filesystem_cache
from persist.cli import cli
from persist.errors import DownloadError, PersistError, UploadError
from tests.integration.servers import AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME
from tests.integration.stallserver import StallMode, StallServer, stall_server

LIMIT = 1.0
"""Connect and read timeout of every test here, in seconds."""

BOUND = 10 * LIMIT
"""Longest a client may take to give up on one attempt (ten times the limit)."""

SECRET = "stall-secret-canary-0123456789"
"""The secret key of every config here; it must appear in no error."""

ENGINES = ["s3-obstore", "s3-fsspec", "abfs-obstore", "abfs-fsspec", "gs"]
"""Backend and engine pairs; persist's retry budget governs each alone."""


def stalled_config(kind: str, endpoint: str, retries: int = 0) -> DataConfig:
    """A config for ``kind`` (``s3-obstore``, ``abfs-fsspec``, ``gs``...) pointing at ``endpoint``."""
    generic: dict[str, Any] = {"connect_timeout": LIMIT, "read_timeout": LIMIT}
    s3: dict[str, Any] = {"retries": retries, "backoff": 0.01}
    if kind.startswith("s3"):
        generic["engine"] = kind.split("-")[1]
        s3.update(
            endpoint=endpoint,
            access_key_id="AKIDSTALL",
            secret_access_key=SECRET,
            region="us-east-1",
            addressing_style="path",
        )
        return DataConfig(s3=s3, generic=generic)
    if kind.startswith("abfs"):
        generic["engine"] = kind.split("-")[1]
        # Azure's own budget (azure.retries); the S3 section's must play no part.
        azure = {
            "account_name": AZURITE_ACCOUNT_NAME,
            "account_key": AZURITE_ACCOUNT_KEY,
            "account_host": endpoint,
            "retries": retries,
            "backoff": 0.01,
        }
        return DataConfig(azure=azure, s3={"retries": 5, "backoff": 60}, generic=generic)
    # GCS's own budget (gcs.retries): gcsfs's six attempts are off on persist's instance.
    gcs = {"endpoint": endpoint, "token": "anon", "project": "p", "retries": retries, "backoff": 0.01}
    return DataConfig(gcs=gcs, s3={"retries": 5, "backoff": 60}, generic=generic)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Every test builds its own clients: a cached one would point at a closed server."""
    clear_filesystem_cache()
    yield
    clear_filesystem_cache()


def transfer(kind: str, server: StallServer, op: str, tmp_path: Path) -> tuple[BaseException, float]:
    """Upload or download one small file through persist; return its error and the time taken."""
    protocol = kind.split("-")[0]
    provider = FileAccessProvider(
        tmp_path, f"{protocol}://bucket/raw/", stalled_config(kind, server.endpoint)
    )
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 100)
    remote = f"{protocol}://bucket/raw/source.bin"
    started = time.perf_counter()
    if op == "upload":
        with pytest.raises(PersistError) as info:
            provider.put_data(str(source), remote)
    else:
        with pytest.raises(PersistError) as info:
            provider.get_data(remote, str(tmp_path / "copy.bin"))
    return info.value, time.perf_counter() - started


def assert_timed_out(err: BaseException, server: StallServer, op: str) -> None:
    """persist's error type, the endpoint named, the limit that ran out, no secret."""
    assert isinstance(err, UploadError if op == "upload" else DownloadError)
    text = str(err)
    assert f"no answer from {server.host} within 1 s (generic.read_timeout)" in text, text
    assert SECRET not in text


class TestStalledEndpoint:
    @pytest.mark.parametrize("kind", ENGINES)
    @pytest.mark.parametrize(
        ("mode", "op"), [("silent", "upload"), ("silent", "download"), ("headers", "download")]
    )
    def test_error_names_endpoint_within_bound(
        self, kind: str, mode: StallMode, op: str, tmp_path: Path
    ) -> None:
        """A request that stops making progress ends in persist's error within ten times the limit."""
        with stall_server(mode) as server:
            err, elapsed = transfer(kind, server, op, tmp_path)
        assert_timed_out(err, server, op)
        assert LIMIT * 0.5 <= elapsed < BOUND
        assert not (tmp_path / "copy.bin").exists()


class TestRetryBudget:
    @pytest.mark.parametrize("kind", ENGINES)
    def test_timed_out_request_is_retried_once_with_one_retry(self, kind: str, tmp_path: Path) -> None:
        """With retries=1 a timed-out request is sent twice in all: no SDK adds attempts of its own."""
        protocol = kind.split("-")[0]
        with stall_server("silent") as server:
            config = stalled_config(kind, server.endpoint, retries=1)
            provider = FileAccessProvider(tmp_path, f"{protocol}://bucket/raw/", config)
            with pytest.raises(DownloadError):
                provider.get_data(f"{protocol}://bucket/raw/k", str(tmp_path / "copy.bin"))
            seen = list(server.requests)
        # One attempt is one request, except on recent gcsfs, whose lookup of a file asks for
        # the object and for a folder of that name at once (in either order); either way the
        # attempt is sent twice.
        per_attempt = 2 if protocol == "gs" and len(seen) == 4 else 1
        assert len(seen) == 2 * per_attempt, seen
        assert sorted(seen[:per_attempt]) == sorted(seen[per_attempt:])


class TestCommandLine:
    def env(self, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", endpoint)
        monkeypatch.setenv("PERSIST_S3__ACCESS_KEY_ID", "AKIDSTALL")
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", SECRET)
        monkeypatch.setenv("PERSIST_S3__REGION", "us-east-1")
        monkeypatch.setenv("PERSIST_S3__ADDRESSING_STYLE", "path")
        monkeypatch.setenv("PERSIST_S3__RETRIES", "0")

    def test_ls_ends_naming_the_endpoint(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """persist ls against a silent endpoint fails after the read timeout given on the command line."""
        with stall_server("silent") as server:
            self.env(monkeypatch, server.endpoint)
            started = time.perf_counter()
            result = CliRunner().invoke(
                cli, ["--connect-timeout", "1", "--read-timeout", "1", "ls", "s3://bucket/"]
            )
            elapsed = time.perf_counter() - started
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"persist: error: cannot list s3://bucket/ (timed out: no answer from {server.host} "
            "within 1 s (generic.read_timeout))\n"
        )
        assert elapsed < BOUND

    def test_probe_deadline_reports_step_time_and_endpoint(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """validate --probe --timeout ends at its deadline, naming the step, the time and the endpoint."""
        config = tmp_path / "c.yaml"
        config.write_text("generic:\n  read_timeout: 3\n", encoding="utf-8")
        with stall_server("silent") as server:
            self.env(monkeypatch, server.endpoint)
            started = time.perf_counter()
            result = CliRunner().invoke(
                cli, ["validate", "--env", str(config), "--probe", "s3://bucket/probe/", "--timeout", "1.5"]
            )
            elapsed = time.perf_counter() - started
        lines = result.output.splitlines()
        assert result.exit_code == 1, result.output
        assert lines[:4] == [
            f"{config}: OK",
            f"{config}: probe s3://bucket/probe/",
            "  store   none: the top-level s3 section",
            "  auth    static keys from the config",
        ]
        # The step's time is the deadline's, give or take how late the waiting thread woke up
        # (a busy machine may print 1.6 or 2.0 s).
        timed_out = re.fullmatch(
            rf"  write   TIMED OUT after (\d+\.\d) s: no answer from {re.escape(server.host)} "
            r"before the probe's 1.5 s deadline \(--timeout\)",
            lines[4],
        )
        assert timed_out, lines[4]
        assert 1.5 <= float(timed_out[1]) < 1.5 + BOUND
        assert lines[5].startswith("  cleanup ")
        assert lines[6].startswith(f"{config}: probe FAILED (")
        assert SECRET not in result.output
        # The deadline, then at most one connect and one read timeout for the clean-up.
        assert elapsed < 1.5 + 1 + 3 + 3
