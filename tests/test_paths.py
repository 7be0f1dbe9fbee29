"""Tests for the pure path helpers in persist.paths."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from persist.errors import InvalidInputError
from persist.paths import (
    check_relative_key,
    get_file_tail,
    get_protocol,
    is_remote,
    join,
    split_protocol,
    strip_file_header,
)

SPLIT_PROTOCOL_CASES: dict[str, Any] = {
    "argnames": ("path", "expected"),
    "argvalues": [
        ("s3://bucket/key", ("s3", "bucket/key")),
        ("s3a://bucket/key", ("s3a", "bucket/key")),
        ("gs://bucket/a/b", ("gs", "bucket/a/b")),
        ("abfs://container/dir/", ("abfs", "container/dir/")),
        ("file:///tmp/x", ("file", "/tmp/x")),
        ("s3://", ("s3", "")),
        ("s3://bucket/a://b", ("s3", "bucket/a://b")),
        ("/tmp/x", (None, "/tmp/x")),
        ("relative/x", (None, "relative/x")),
        ("", (None, "")),
        ("C://Users/x", (None, "C://Users/x")),
        ("c://data", (None, "c://data")),
        ("C:\\Users\\x", (None, "C:\\Users\\x")),
    ],
    "ids": [
        "s3",
        "s3a",
        "gs",
        "abfs",
        "file",
        "bare-protocol",
        "only-first-separator",
        "absolute",
        "relative",
        "empty",
        "windows-drive-upper",
        "windows-drive-lower",
        "windows-backslash",
    ],
}

IS_REMOTE_CASES: dict[str, Any] = {
    "argnames": ("path", "expected"),
    "argvalues": [
        ("file:///tmp/x", False),
        ("local:///tmp/x", False),
        ("/tmp/x", False),
        ("relative/x", False),
        ("C://Users/x", False),
        ("s3://bucket/x", True),
        ("gs://bucket/x", True),
        ("abfs://container/x", True),
        ("https://example.com/x", True),
    ],
    "ids": ["file", "local", "absolute", "relative", "windows-drive", "s3", "gs", "abfs", "https"],
}


class TestSplitProtocol:
    @pytest.mark.parametrize(**SPLIT_PROTOCOL_CASES)
    def test_split(self, path: str, expected: tuple[str | None, str]) -> None:
        """A path splits into its protocol (or None) and the rest."""
        assert split_protocol(path) == expected

    def test_accepts_path_like(self) -> None:
        """A pathlib.Path is split like its string."""
        assert split_protocol(pathlib.PurePosixPath("/tmp/x")) == (None, "/tmp/x")


class TestGetProtocol:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("s3://b/k", "s3"),
            ("gs://b/k", "gs"),
            ("abfss://c/k", "abfss"),
            ("file:///x", "file"),
            ("/tmp/x", "file"),
            ("C://x", "file"),
        ],
    )
    def test_protocol(self, path: str, expected: str) -> None:
        """The protocol of a path; ``file`` when it has none (a drive letter is none)."""
        assert get_protocol(path) == expected


class TestIsRemote:
    @pytest.mark.parametrize(**IS_REMOTE_CASES)
    def test_is_remote(self, path: str, expected: bool) -> None:
        """Only paths with a non-local protocol are remote."""
        assert is_remote(path) is expected


class TestStripFileHeader:
    def test_drops_file_protocol(self) -> None:
        """A leading ``file://`` is dropped."""
        assert strip_file_header("file:///tmp/x") == "/tmp/x"

    def test_drops_it_once(self) -> None:
        """Only the first ``file://`` is dropped, as in flytekit."""
        assert strip_file_header("file://file:///tmp/x") == "file:///tmp/x"

    def test_only_at_the_start(self) -> None:
        """A ``file://`` inside the path is left alone."""
        assert strip_file_header("/tmp/file://x") == "/tmp/file://x"

    def test_leaves_other_protocols(self) -> None:
        """Remote paths come back unchanged."""
        assert strip_file_header("s3://bucket/x/") == "s3://bucket/x/"

    def test_keeps_trailing_separator_by_default(self) -> None:
        """Without ``trim_trailing_sep`` a trailing separator stays."""
        assert strip_file_header("file:///tmp/x/") == "/tmp/x/"

    def test_trims_trailing_separators(self) -> None:
        """``trim_trailing_sep`` is honoured (flytekit accepted the argument but ignored it)."""
        assert strip_file_header("file:///tmp/x//", trim_trailing_sep=True) == "/tmp/x"

    def test_trims_without_header(self) -> None:
        """``trim_trailing_sep`` also applies to a plain path."""
        assert strip_file_header("/tmp/x/", trim_trailing_sep=True) == "/tmp/x"

    @pytest.mark.parametrize("path", ["/", "//", "file:///", "file:////"])
    def test_root_is_never_emptied(self, path: str) -> None:
        """The root stays ``/`` when trailing separators are trimmed, never ``""``."""
        assert strip_file_header(path, trim_trailing_sep=True) == "/"

    def test_empty_stays_empty(self) -> None:
        """An empty path stays empty."""
        assert strip_file_header("", trim_trailing_sep=True) == ""


class TestGetFileTail:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("a/b.txt", "b.txt"),
            ("b.txt", "b.txt"),
            ("/tmp/x/y.csv", "y.csv"),
            ("s3://bucket/k/y.parquet", "y.parquet"),
            ("a/", ""),
            ("", ""),
        ],
    )
    def test_tail(self, path: str, expected: str) -> None:
        """The last component of a path; empty for a path ending in a separator."""
        assert get_file_tail(path) == expected


class TestJoin:
    def test_keeps_protocol(self) -> None:
        """The first part's protocol is kept."""
        assert join("s3://bucket/raw", "x", "y.txt") == "s3://bucket/raw/x/y.txt"

    def test_one_separator_between_parts(self) -> None:
        """Separators at the edges of parts collapse to one."""
        assert join("s3://bucket/raw/", "/x/", "/y.txt") == "s3://bucket/raw/x/y.txt"

    def test_skips_empty_parts(self) -> None:
        """Empty parts, and parts that are only separators, add nothing."""
        assert join("gs://bucket", "", "/", "k") == "gs://bucket/k"

    def test_only_empty_parts_return_base(self) -> None:
        """With nothing to add, the first part comes back unchanged."""
        assert join("s3://bucket/raw/", "", "/") == "s3://bucket/raw/"

    def test_single_part(self) -> None:
        """One part comes back as it is."""
        assert join("abfs://container/dir/") == "abfs://container/dir/"

    def test_from_root(self) -> None:
        """Joining to the root gives an absolute path with one leading separator."""
        assert join("/", "a", "b") == "/a/b"

    def test_from_protocol_only(self) -> None:
        """``s3://`` joined with a bucket gives ``s3://bucket``."""
        assert join("s3://", "bucket", "k") == "s3://bucket/k"

    def test_local_absolute(self) -> None:
        """A local absolute base stays absolute."""
        assert join("/tmp/raw/", "x") == "/tmp/raw/x"

    def test_relative_base(self) -> None:
        """A relative base stays relative."""
        assert join("raw", "x") == "raw/x"

    def test_empty_base(self) -> None:
        """An empty base gives just the joined parts."""
        assert join("", "a", "b") == "a/b"

    def test_custom_separator(self) -> None:
        """``sep`` picks the separator (a Windows local filesystem)."""
        assert join("C:\\raw\\", "x", sep="\\") == "C:\\raw\\x"

    def test_needs_a_part(self) -> None:
        """Joining nothing is an InvalidInputError."""
        with pytest.raises(InvalidInputError, match="at least one"):
            join()


class TestCheckRelativeKey:
    @pytest.mark.parametrize(
        "name",
        ["..", "../x", "a/../../b", "a/..", "..\\x", "a\\..\\b", "a/..\\b"],
        ids=["dotdot", "leading", "middle", "trailing", "backslash", "backslash-middle", "mixed"],
    )
    def test_refuses_dotdot_segment(self, name: str) -> None:
        """A name with a ``..`` segment (either slash) is refused."""
        with pytest.raises(InvalidInputError):
            check_relative_key(name, "file_name", "s3://bucket/raw/")

    def test_message(self) -> None:
        """The message names the value, the prefix and what is allowed."""
        with pytest.raises(InvalidInputError) as excinfo:
            check_relative_key("../../etc/x", "file_name", "s3://bucket/raw/")
        assert str(excinfo.value) == (
            "file_name '../../etc/x' escapes s3://bucket/raw/; use a name without '..' segments"
        )

    @pytest.mark.parametrize("name", ["a..b", "...", "..a", "b..", "a/.../b", ".", "./a", "/a/b", "a\\b", ""])
    def test_allows_names_without_dotdot_segment(self, name: str) -> None:
        """Dots inside a segment, ``.``, leading separators and backslash names are fine."""
        check_relative_key(name, "file_name", "s3://bucket/raw/")
