"""A FileAccessProvider travels to workers: pickling, ``from_environment``, fork, module attributes.

Transfers from real worker processes against a real server are in
``tests/integration/test_workers.py``; these tests need no server.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import persist
from persist import ConfigError, DataConfig, FileAccessProvider, S3Config
from persist.config import AzureBlobStorageConfig

CANARY = "canary-secret-5f0c1e9a7b"
"""A secret value that may travel only where the caller gave it to the provider."""

# Forking a process that runs threads (persist's I/O loop) is what these tests do on purpose;
# Python 3.12+ warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")

START_METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


def _config(secret: str = CANARY) -> DataConfig:
    return DataConfig(
        s3=S3Config(endpoint="http://127.0.0.1:9", access_key_id="key-id", secret_access_key=secret),
        azure=AzureBlobStorageConfig(account_name="acct", sas_token="sv=2024&sig=" + secret),
    )


class TestPickle:
    def test_round_trip_gives_an_equivalent_provider(self, tmp_path: Path) -> None:
        """Config, raw output prefix, sandbox and execution metadata survive pickling."""
        provider = FileAccessProvider(tmp_path / "sb", "s3://bucket/raw", _config(), {"run": 7})
        clone = pickle.loads(pickle.dumps(provider))
        assert type(clone) is FileAccessProvider
        assert clone.data_config == provider.data_config
        assert clone.raw_output_prefix == "s3://bucket/raw/"
        assert clone.local_sandbox_dir == provider.local_sandbox_dir
        assert clone._execution_metadata == {"run": "7"}
        assert clone.get_random_remote_path("x.csv").startswith("s3://bucket/raw/")

    def test_state_holds_only_the_arguments(self, tmp_path: Path) -> None:
        """Nothing but plain arguments travels: no lock, loop, filesystem or store."""
        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), _config())
        provider.put_raw_data(b"warm the caches", file_name="a.txt")
        state = provider.__getstate__()
        assert set(state) == {
            "local_sandbox_dir",
            "raw_output_prefix",
            "data_config",
            "execution_metadata",
            "environment",
        }
        assert isinstance(state["data_config"], DataConfig)

    def test_given_config_travels_with_its_secrets(self, tmp_path: Path) -> None:
        """A config passed in travels exactly as given, secrets included (documented in the README)."""
        provider = FileAccessProvider(tmp_path / "sb", "s3://bucket/raw", _config())
        payload = pickle.dumps(provider)
        assert CANARY.encode() in payload
        clone = pickle.loads(payload)
        assert clone.data_config.s3.secret_access_key is not None
        assert clone.data_config.s3.secret_access_key.get_secret_value() == CANARY

    def test_repr_shows_no_secret(self, tmp_path: Path) -> None:
        """The provider's repr names its prefix and where its config comes from, never a secret."""
        provider = FileAccessProvider(tmp_path / "sb", "s3://bucket/raw", _config())
        text = repr(provider)
        assert CANARY not in text
        assert "s3://bucket/raw/" in text
        assert "config=given" in text

    def test_unpickling_creates_the_sandbox(self, tmp_path: Path) -> None:
        """The receiving side makes its own sandbox directory, as a worker on another machine must."""
        provider = FileAccessProvider(tmp_path / "sb", "s3://bucket/raw", _config())
        payload = pickle.dumps(provider)
        (tmp_path / "sb" / "local_flytekit").rmdir()
        clone = pickle.loads(payload)
        assert Path(clone.local_sandbox_dir).is_dir()


class TestFromEnvironment:
    def test_pickle_carries_no_secret_and_worker_reads_its_own_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The pickle holds no config; unpickling reads the receiving process's environment."""
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://parent:9000")
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", CANARY)
        provider = FileAccessProvider.from_environment(tmp_path / "sb", "s3://bucket/raw", {"run": "1"})
        assert provider.data_config.s3.endpoint == "http://parent:9000"
        payload = pickle.dumps(provider)
        assert CANARY.encode() not in payload
        assert b"parent:9000" not in payload
        # The "worker": another environment, with its own secret.
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://worker:9000")
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", "worker-secret")
        clone = pickle.loads(payload)
        assert clone.data_config.s3.endpoint == "http://worker:9000"
        assert clone.data_config.s3.secret_access_key is not None
        assert clone.data_config.s3.secret_access_key.get_secret_value() == "worker-secret"
        assert clone._execution_metadata == {"run": "1"}
        assert "config=environment" in repr(clone)

    def test_config_file_path_travels_not_its_content(self, tmp_path: Path) -> None:
        """With ``config_file``, each worker reads the file at that path itself."""
        config = tmp_path / "persist.yaml"
        config.write_text(f"s3:\n  endpoint: http://first:1\n  secret_access_key: {CANARY}\n")
        provider = FileAccessProvider.from_environment(tmp_path / "sb", "s3://b/raw", config_file=config)
        payload = pickle.dumps(provider)
        assert CANARY.encode() not in payload
        config.write_text("s3:\n  endpoint: http://second:2\n")
        assert pickle.loads(payload).data_config.s3.endpoint == "http://second:2"

    def test_bad_environment_is_reported_where_it_is_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An invalid variable fails on construction, naming the variable and the field."""
        monkeypatch.setenv("PERSIST_S3__RETRIES", "many")
        with pytest.raises(ConfigError, match=r"PERSIST_S3__RETRIES: s3\.retries"):
            FileAccessProvider.from_environment(tmp_path / "sb", "s3://b/raw")


def _child_report(conn: object) -> None:
    """In a child process: describe persist's module attributes and use the default provider."""
    provider = persist.default_local_file_access_provider
    tmp = persist.flyte_tmp_dir
    src = Path(provider.get_random_local_path("in.txt"))
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(b"child data")
    uri = provider.put_raw_data(str(src))
    out = provider.get_random_local_path("out.txt")
    provider.get_data(uri, out)
    conn.send((tmp, os.path.isdir(tmp), Path(out).read_bytes(), provider.raw_output_prefix))  # type: ignore[attr-defined]


class TestModuleAttributesInWorkers:
    @pytest.fixture(autouse=True)
    def _lazy_values_in_tmp_path(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """``flyte_tmp_dir`` (here and in spawned children) is made in ``tmp_path``, not left in /tmp."""
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        saved = dict(persist._lazy)
        persist._lazy.clear()
        yield
        persist._lazy.clear()
        persist._lazy.update(saved)

    @pytest.mark.parametrize("method", START_METHODS)
    def test_default_provider_works_in_a_child(self, method: str) -> None:
        """A forked child keeps the parent's values; a spawned one builds its own, lazily; both work."""
        parent_tmp = persist.flyte_tmp_dir
        parent_prefix = persist.default_local_file_access_provider.raw_output_prefix
        ctx = multiprocessing.get_context(method)
        recv, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child_report, args=(send,))
        child.start()
        try:
            assert recv.poll(60), "the child did not answer within 60 s"
            tmp, is_dir, data, prefix = recv.recv()
        finally:
            child.join(30)
        assert child.exitcode == 0
        assert is_dir
        assert data == b"child data"
        if method == "fork":
            assert (tmp, prefix) == (parent_tmp, parent_prefix)
        else:
            assert tmp != parent_tmp
            assert prefix.startswith(tmp)

    def test_default_provider_travels_and_stays_usable(self) -> None:
        """The module's default provider pickles like any other provider."""
        provider = persist.default_local_file_access_provider
        clone = pickle.loads(pickle.dumps(provider))
        assert clone.raw_output_prefix == provider.raw_output_prefix

    def test_spawned_worker_creates_nothing_on_import(self, tmp_path: Path) -> None:
        """A worker that imports persist and unpickles nothing creates no directory (lazy attributes)."""
        code = textwrap.dedent(
            """
            import os, tempfile
            before = set(os.listdir(tempfile.gettempdir()))
            import persist
            assert set(os.listdir(tempfile.gettempdir())) == before
            print("ok")
            """
        )
        env = {**os.environ, "TMPDIR": str(tmp_path)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert list(tmp_path.iterdir()) == []


def _use_everything(conn: object, raw: str) -> None:
    """In a forked child: take every lock persist keeps and move a file through a provider."""
    import persist._fs
    import persist._obstore

    with persist._fs._FS_LOCK, persist._obstore._STORES_LOCK, persist._LAZY_LOCK:
        pass
    provider = FileAccessProvider(Path(raw) / "sb", raw, DataConfig())
    uri = provider.put_raw_data(b"from the child", file_name="child.txt")
    conn.send(Path(uri).read_bytes())  # type: ignore[attr-defined]


@pytest.mark.skipif("fork" not in START_METHODS, reason="needs the fork start method")
def test_fork_while_locks_are_held_does_not_deadlock(tmp_path: Path) -> None:
    """A fork taken while a parent thread holds persist's (and fsspec's loop) locks gets fresh ones."""
    import persist._fs
    import persist._obstore

    # A parent thread is mid-way through building a filesystem, a store and a lazy attribute.
    FileAccessProvider(tmp_path / "warm", str(tmp_path / "raw"), DataConfig()).put_raw_data(b"warm")
    import fsspec.asyn

    # fsspec's own lock too: fsspec's at-fork hook leaves it as it was (persist's resets it).
    locks = [persist._fs._FS_LOCK, persist._obstore._STORES_LOCK, persist._LAZY_LOCK, fsspec.asyn.get_lock()]
    for lock in locks:
        lock.acquire()
    try:
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_use_everything, args=(send, str(tmp_path / "raw")))
        child.start()
        answered = recv.poll(30)
    finally:
        for lock in locks:
            lock.release()
    child.join(0 if not answered else 30)
    if child.is_alive():
        child.kill()
        child.join(10)
    assert answered, "the forked child deadlocked on a lock its parent held"
    assert recv.recv() == b"from the child"
    assert child.exitcode == 0
