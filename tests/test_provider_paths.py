"""FileAccessProvider's path methods, which touch no storage: local and S3 raw output prefixes."""

from __future__ import annotations

import os
import pathlib
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persist import DataConfig, FileAccessProvider, InvalidInputError
from tests.path_strategies import SAFE_CHARS, stems

S3_PREFIX = "s3://bucket/data/"
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def local_provider(tmp_path: pathlib.Path) -> FileAccessProvider:
    """A provider whose raw output is a local directory."""
    return FileAccessProvider(tmp_path / "sandbox", str(tmp_path / "raw"), DataConfig())


@pytest.fixture
def s3_provider(tmp_path: pathlib.Path) -> FileAccessProvider:
    """A provider whose raw output is on S3; no server is needed until a transfer."""
    return FileAccessProvider(tmp_path / "sandbox", S3_PREFIX, DataConfig())


@pytest.fixture(scope="module")
def shared_s3_provider(tmp_path_factory: pytest.TempPathFactory) -> FileAccessProvider:
    """One S3 provider for property tests (Hypothesis refuses function-scoped fixtures)."""
    return FileAccessProvider(tmp_path_factory.mktemp("sandbox"), S3_PREFIX, DataConfig())


@pytest.fixture(scope="module")
def shared_local_provider(tmp_path_factory: pytest.TempPathFactory) -> FileAccessProvider:
    """One local provider for property tests."""
    root = tmp_path_factory.mktemp("local")
    return FileAccessProvider(root / "sandbox", str(root / "raw"), DataConfig())


class TestConstruction:
    def test_empty_sandbox_dir_is_refused(self) -> None:
        """An empty local_sandbox_dir is an InvalidInputError."""
        with pytest.raises(InvalidInputError, match="local_sandbox_dir"):
            FileAccessProvider("", S3_PREFIX, DataConfig())

    def test_empty_raw_output_prefix_is_refused(self, tmp_path: pathlib.Path) -> None:
        """An empty raw_output_prefix is an InvalidInputError."""
        with pytest.raises(InvalidInputError, match="raw_output_prefix"):
            FileAccessProvider(tmp_path, "", DataConfig())

    def test_s3_provider_needs_no_server(self, s3_provider: FileAccessProvider) -> None:
        """Building an S3 provider and its filesystem connects to nothing."""
        assert s3_provider.raw_output_fs.protocol[0] == "s3"

    def test_data_config_none_reads_auto(
        self, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``data_config=None`` reads the config with ``DataConfig.auto()`` (environment included)."""
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://127.0.0.1:9000")
        provider = FileAccessProvider(tmp_path, S3_PREFIX)
        assert provider.data_config.s3.endpoint == "http://127.0.0.1:9000"

    def test_given_data_config_is_kept(self, tmp_path: pathlib.Path) -> None:
        """A data_config passed in is the one the provider uses."""
        config = DataConfig()
        assert FileAccessProvider(tmp_path, S3_PREFIX, config).data_config is config

    def test_sandbox_is_local_flytekit_subdir(self, tmp_path: pathlib.Path) -> None:
        """local_sandbox_dir is ``<dir>/local_flytekit`` and exists."""
        provider = FileAccessProvider(tmp_path, S3_PREFIX, DataConfig())
        assert pathlib.Path(provider.local_sandbox_dir) == tmp_path / "local_flytekit"
        assert pathlib.Path(provider.local_sandbox_dir).is_dir()


class TestRawOutputPrefix:
    def test_s3_prefix_gets_trailing_separator(self, tmp_path: pathlib.Path) -> None:
        """An S3 prefix without a trailing ``/`` gets one."""
        provider = FileAccessProvider(tmp_path, "s3://bucket/data", DataConfig())
        assert provider.raw_output_prefix == "s3://bucket/data/"

    def test_s3_prefix_keeps_single_separator(self, s3_provider: FileAccessProvider) -> None:
        """An S3 prefix that ends with ``/`` is unchanged."""
        assert s3_provider.raw_output_prefix == S3_PREFIX

    def test_local_prefix_gets_os_separator(self, tmp_path: pathlib.Path) -> None:
        """A local prefix ends with the OS separator."""
        provider = FileAccessProvider(tmp_path, str(tmp_path / "raw"), DataConfig())
        assert provider.raw_output_prefix == str(tmp_path / "raw") + os.sep


class TestSep:
    def test_none_is_os_sep(self, s3_provider: FileAccessProvider) -> None:
        """``sep(None)`` is the local separator."""
        assert s3_provider.sep(None) == os.sep

    def test_s3_filesystem(self, s3_provider: FileAccessProvider) -> None:
        """An S3 filesystem's separator is ``/``."""
        assert s3_provider.sep(s3_provider.raw_output_fs) == "/"

    def test_local_filesystem(self, s3_provider: FileAccessProvider) -> None:
        """The local filesystem's separator is the OS one."""
        assert s3_provider.sep(s3_provider.local_access) == os.sep


class TestJoin:
    def test_s3_join(self, s3_provider: FileAccessProvider) -> None:
        """Parts join with ``/`` under an S3 prefix."""
        assert s3_provider.join(S3_PREFIX, "a", "b.txt") == "s3://bucket/data/a/b.txt"

    def test_unstrip_adds_raw_output_protocol(self, s3_provider: FileAccessProvider) -> None:
        """With ``unstrip``, a path without a protocol gets the raw output filesystem's."""
        assert s3_provider.join("bucket", "k", unstrip=True) == "s3://bucket/k"

    def test_without_unstrip_no_protocol_is_added(self, s3_provider: FileAccessProvider) -> None:
        """Without ``unstrip``, a path without a protocol stays without one."""
        assert s3_provider.join("bucket", "k") == "bucket/k"

    def test_unstrip_keeps_existing_protocol(self, s3_provider: FileAccessProvider) -> None:
        """``unstrip`` leaves a path that already has a protocol alone."""
        assert s3_provider.join("gs://b", "k", unstrip=True) == "gs://b/k"

    def test_unstrip_local(self, local_provider: FileAccessProvider, tmp_path: pathlib.Path) -> None:
        """With ``unstrip`` on a local provider, the result is a ``file://`` URL."""
        joined = local_provider.join(str(tmp_path), "x", unstrip=True)
        assert joined == "file://" + str(tmp_path / "x")

    def test_fs_picks_separator(self, s3_provider: FileAccessProvider) -> None:
        """``fs`` decides the separator: the local one for the local filesystem."""
        assert s3_provider.join("root", "x", fs=s3_provider.local_access) == f"root{os.sep}x"

    def test_needs_a_part(self, s3_provider: FileAccessProvider) -> None:
        """Joining nothing is an InvalidInputError."""
        with pytest.raises(InvalidInputError):
            s3_provider.join()


class TestRecursivePaths:
    def test_adds_trailing_separators(self) -> None:
        """Both paths get a trailing separator."""
        assert FileAccessProvider.recursive_paths("s3://b/src", "/tmp/dst") == ("s3://b/src/", "/tmp/dst/")

    def test_idempotent(self) -> None:
        """Paths that already end with a separator are unchanged."""
        once = FileAccessProvider.recursive_paths("s3://b/src", "/tmp/dst")
        assert FileAccessProvider.recursive_paths(*once) == once

    def test_local_file_keeps_its_path(self, tmp_path: pathlib.Path) -> None:
        """A local file gets no trailing separator; the destination does (as in flytekit 1.16)."""
        src = tmp_path / "data.csv"
        src.write_bytes(b"x")
        assert FileAccessProvider.recursive_paths(str(src), "s3://b/dst") == (str(src), "s3://b/dst/")

    def test_local_folder_gets_separator(self, tmp_path: pathlib.Path) -> None:
        """An existing local folder gets a trailing separator, with or without ``file://``."""
        assert FileAccessProvider.recursive_paths(str(tmp_path), "s3://b/dst")[0] == f"{tmp_path}{os.sep}"
        uri = f"file://{tmp_path}"
        assert FileAccessProvider.recursive_paths(uri, "s3://b/dst")[0] == f"{uri}/"

    def test_missing_local_path_keeps_its_path(self, tmp_path: pathlib.Path) -> None:
        """A local path that does not exist is not assumed to be a folder."""
        missing = str(tmp_path / "missing")
        assert FileAccessProvider.recursive_paths(missing, str(tmp_path)) == (missing, f"{tmp_path}{os.sep}")


class TestAsyncFilesystem:
    def test_local_path_gives_local_filesystem(
        self, local_provider: FileAccessProvider, tmp_path: pathlib.Path
    ) -> None:
        """Awaited for a local path, it gives the local filesystem, which has no async form."""
        import asyncio

        fs = asyncio.run(local_provider.get_async_filesystem_for_path(str(tmp_path)))
        assert fs is local_provider.local_access


class TestRandomString:
    def test_is_32_hex(self) -> None:
        """A random string is 32 lowercase hex characters."""
        assert HEX32.fullmatch(FileAccessProvider.get_random_string())

    def test_differs_between_calls(self) -> None:
        """Two calls give different strings."""
        assert FileAccessProvider.get_random_string() != FileAccessProvider.get_random_string()

    def test_ignores_global_random_seed(self) -> None:
        """Seeding ``random`` does not repeat paths (flytekit kept its own generator for this)."""
        state = random.getstate()
        try:
            random.seed(1234)
            first = FileAccessProvider.get_random_string()
            random.seed(1234)
            second = FileAccessProvider.get_random_string()
        finally:
            random.setstate(state)
        assert first != second


class TestRandomLocalPaths:
    def test_path_keeps_tail(self, s3_provider: FileAccessProvider) -> None:
        """The random local path ends with the given file's name."""
        path = pathlib.Path(s3_provider.get_random_local_path("some/dir/data.csv"))
        assert path.name == "data.csv"

    def test_path_is_under_local_flytekit(
        self, s3_provider: FileAccessProvider, tmp_path: pathlib.Path
    ) -> None:
        """The random local path is ``<sandbox>/local_flytekit/<random>/<tail>``."""
        path = pathlib.Path(s3_provider.get_random_local_path("data.csv"))
        assert path.parent.parent == tmp_path / "sandbox" / "local_flytekit"
        assert HEX32.fullmatch(path.parent.name)

    def test_path_without_name_is_random_dir(self, s3_provider: FileAccessProvider) -> None:
        """Without a name, the path is a random entry directly in the sandbox, not yet created."""
        path = pathlib.Path(s3_provider.get_random_local_path())
        assert path.parent == pathlib.Path(s3_provider.local_sandbox_dir)
        assert HEX32.fullmatch(path.name)
        assert not path.exists()

    def test_paths_differ(self, s3_provider: FileAccessProvider) -> None:
        """Two random local paths for the same name differ."""
        assert s3_provider.get_random_local_path("x") != s3_provider.get_random_local_path("x")

    def test_directory_exists_and_is_empty(self, s3_provider: FileAccessProvider) -> None:
        """The random local directory exists and is empty."""
        directory = pathlib.Path(s3_provider.get_random_local_directory())
        assert directory.is_dir()
        assert list(directory.iterdir()) == []

    def test_directory_is_in_sandbox(self, s3_provider: FileAccessProvider) -> None:
        """The random local directory is in the sandbox."""
        directory = pathlib.Path(s3_provider.get_random_local_directory())
        assert directory.parent == pathlib.Path(s3_provider.local_sandbox_dir)


class TestRandomRemotePaths:
    def test_s3_path_keeps_tail(self, s3_provider: FileAccessProvider) -> None:
        """An S3 random path is ``<prefix><random>/<tail>``."""
        path = s3_provider.get_random_remote_path("local/dir/data.csv")
        assert re.fullmatch(r"s3://bucket/data/[0-9a-f]{32}/data\.csv", path)

    def test_s3_path_without_name(self, s3_provider: FileAccessProvider) -> None:
        """Without a name, an S3 random path is ``<prefix><random>``."""
        assert re.fullmatch(r"s3://bucket/data/[0-9a-f]{32}", s3_provider.get_random_remote_path())

    def test_s3_directory(self, s3_provider: FileAccessProvider) -> None:
        """A random remote directory is ``<prefix><random>``, without a trailing separator."""
        assert re.fullmatch(r"s3://bucket/data/[0-9a-f]{32}", s3_provider.get_random_remote_directory())

    def test_local_path_keeps_tail(self, local_provider: FileAccessProvider) -> None:
        """A local random remote path is under the local prefix and keeps the tail."""
        path = local_provider.get_random_remote_path("data.csv")
        assert path.startswith(local_provider.raw_output_prefix)
        rest = path[len(local_provider.raw_output_prefix) :].split(os.sep)
        assert len(rest) == 2
        assert HEX32.fullmatch(rest[0])
        assert rest[1] == "data.csv"

    def test_local_directory(self, local_provider: FileAccessProvider) -> None:
        """A local random remote directory is ``<prefix><random>`` and is not created."""
        directory = local_provider.get_random_remote_directory()
        assert directory.startswith(local_provider.raw_output_prefix)
        assert HEX32.fullmatch(directory[len(local_provider.raw_output_prefix) :])
        assert not os.path.exists(directory)

    def test_remote_paths_differ(self, s3_provider: FileAccessProvider) -> None:
        """Two random remote paths differ."""
        assert s3_provider.get_random_remote_path("x") != s3_provider.get_random_remote_path("x")


class TestGenerateNewCustomPath:
    def test_alt_and_stem(self, s3_provider: FileAccessProvider) -> None:
        """``alt`` replaces the bucket and ``stem`` ends the path."""
        assert s3_provider.generate_new_custom_path(alt="other", stem="x") == "s3://other/data/x"

    def test_stem_only(self, s3_provider: FileAccessProvider) -> None:
        """``stem`` alone goes under the raw output prefix."""
        assert s3_provider.generate_new_custom_path(stem="x/y.txt") == "s3://bucket/data/x/y.txt"

    def test_random_stem_when_none(self, s3_provider: FileAccessProvider) -> None:
        """Without a stem, the path ends in a random string."""
        assert re.fullmatch(r"s3://bucket/data/[0-9a-f]{32}", s3_provider.generate_new_custom_path())

    def test_random_stem_when_empty(self, s3_provider: FileAccessProvider) -> None:
        """An empty stem also gets a random one, as in flytekit, never the prefix itself."""
        assert re.fullmatch(r"s3://bucket/data/[0-9a-f]{32}", s3_provider.generate_new_custom_path(stem=""))

    def test_alt_with_random_stem(self, s3_provider: FileAccessProvider) -> None:
        """``alt`` without a stem gives a random path in the other bucket."""
        assert re.fullmatch(
            r"s3://other/data/[0-9a-f]{32}", s3_provider.generate_new_custom_path(alt="other")
        )

    def test_bucket_only_prefix(self, tmp_path: pathlib.Path) -> None:
        """A prefix that is just a bucket has that bucket replaced by ``alt``."""
        provider = FileAccessProvider(tmp_path, "s3://bucket", DataConfig())
        assert provider.generate_new_custom_path(alt="other", stem="x") == "s3://other/x"

    def test_with_fs(self, s3_provider: FileAccessProvider) -> None:
        """Passing the raw output filesystem gives the same path."""
        fs = s3_provider.raw_output_fs
        assert s3_provider.generate_new_custom_path(fs=fs, stem="x") == "s3://bucket/data/x"

    def test_local_prefix_alt_replaces_first_directory(self, tmp_path: pathlib.Path) -> None:
        """On a local prefix, ``alt`` replaces the first directory."""
        provider = FileAccessProvider(tmp_path, "/srv/raw/", DataConfig())
        assert provider.generate_new_custom_path(alt="mnt", stem="x") == "/mnt/raw/x"

    @pytest.mark.parametrize("stem", ["..", "../x", "a/../../b", "a\\..\\b"])
    def test_refuses_escaping_stem(self, s3_provider: FileAccessProvider, stem: str) -> None:
        """A stem with a ``..`` segment is an InvalidInputError."""
        with pytest.raises(InvalidInputError, match=r"use a name without '\.\.' segments"):
            s3_provider.generate_new_custom_path(stem=stem)

    @pytest.mark.parametrize("alt", ["a/b", "/b", "..", "."])
    def test_refuses_alt_that_is_not_one_name(self, s3_provider: FileAccessProvider, alt: str) -> None:
        """``alt`` must be a single name, such as a bucket."""
        with pytest.raises(InvalidInputError, match="single name"):
            s3_provider.generate_new_custom_path(alt=alt)

    @given(
        stem=stems,
        alt=st.none() | st.text(SAFE_CHARS, min_size=1, max_size=20).filter(lambda s: s not in (".", "..")),
    )
    def test_s3_path_is_under_prefix_and_ends_with_stem(
        self, shared_s3_provider: FileAccessProvider, stem: str, alt: str | None
    ) -> None:
        """An S3 custom path starts with the (alt-replaced) prefix and ends with the stem."""
        path = shared_s3_provider.generate_new_custom_path(alt=alt, stem=stem)
        prefix = S3_PREFIX if alt is None else f"s3://{alt}/data/"
        assert path == prefix + stem

    @given(
        stem=stems,
        alt=st.none() | st.text(SAFE_CHARS, min_size=1, max_size=20).filter(lambda s: s not in (".", "..")),
    )
    def test_local_path_is_under_prefix_and_ends_with_stem(
        self, shared_local_provider: FileAccessProvider, stem: str, alt: str | None
    ) -> None:
        """A local custom path starts with the (alt-replaced) prefix and ends with the stem."""
        path = shared_local_provider.generate_new_custom_path(alt=alt, stem=stem)
        prefix = shared_local_provider.raw_output_prefix
        if alt is not None:
            parts = prefix.split(os.sep)
            parts[1] = alt
            prefix = os.sep.join(parts)
        assert path == prefix + stem
