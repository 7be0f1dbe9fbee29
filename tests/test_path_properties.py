"""Hypothesis properties of the path helpers: joins round-trip and never escape their prefix."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from persist.errors import InvalidInputError
from persist.paths import check_relative_key, get_file_tail, join, split_protocol, strip_file_header
from tests.path_strategies import SAFE_CHARS, bases, keys, names, remote_bases, segments


def _has_dotdot_segment(name: str) -> bool:
    return ".." in re.split(r"[/\\]", name)


class TestJoinProperties:
    @given(base=bases, key=keys)
    def test_split_protocol_of_join_gives_back_the_parts(self, base: str, key: str) -> None:
        """``split_protocol(join(base, key))`` has the base's protocol and a path ending with the key."""
        protocol, path = split_protocol(join(base, key))
        assert protocol == split_protocol(base)[0]
        assert path.endswith("/" + key)

    @given(base=remote_bases(), key=keys)
    def test_join_has_one_separator_before_the_key(self, base: str, key: str) -> None:
        """The key follows the base with exactly one separator."""
        assert join(base, key) == base.rstrip("/") + "/" + key

    @given(first=bases, second=keys)
    def test_file_tail_of_join_is_last_segment(self, first: str, second: str) -> None:
        """``get_file_tail(join(a, b))`` is the last segment of ``b``."""
        assert get_file_tail(join(first, second)) == second.split("/")[-1]

    @given(base=bases, parts=st.lists(keys, min_size=1, max_size=4))
    def test_join_is_associative(self, base: str, parts: list[str]) -> None:
        """Joining all parts at once equals joining them one at a time."""
        stepwise = base
        for part in parts:
            stepwise = join(stepwise, part)
        assert join(base, *parts) == stepwise


def checked_join(prefix: str, name: str, what: str = "name") -> str:
    """What the provider does with a caller's name: refuse ``..`` segments, then join."""
    check_relative_key(name, what, prefix)
    return join(prefix, name)


class TestCheckedJoinProperties:
    @given(prefix=bases, name=names())
    @example(prefix="s3://bucket/raw/", name="../x")
    @example(prefix="/", name="a\\..\\b")
    @example(prefix="gs://bucket", name="a..b")
    def test_stays_under_prefix_or_raises(self, prefix: str, name: str) -> None:
        """A checked join stays under the prefix, and raises exactly when a segment is ``..``."""
        if _has_dotdot_segment(name):
            with pytest.raises(InvalidInputError, match=r"use a name without '\.\.' segments"):
                checked_join(prefix, name)
            return
        result = checked_join(prefix, name)
        if name.strip("/"):
            assert result.startswith(prefix.rstrip("/") + "/")
        else:
            assert result == prefix

    @given(prefix=bases, name=names())
    def test_refusal_names_value_and_prefix(self, prefix: str, name: str) -> None:
        """A refused name's message quotes the name and the prefix it would escape."""
        if not _has_dotdot_segment(name):
            return
        with pytest.raises(InvalidInputError) as excinfo:
            checked_join(prefix, name, what="file_name")
        assert str(excinfo.value) == (
            f"file_name {name!r} escapes {prefix}; use a name without '..' segments"
        )


class TestStripFileHeaderProperties:
    _bodies = st.lists(segments | st.just(""), max_size=5).map("/".join)

    @given(header=st.sampled_from(["", "file://"]), body=_bodies, trim=st.booleans())
    def test_idempotent(self, header: str, body: str, trim: bool) -> None:
        """Stripping twice gives what stripping once gives."""
        once = strip_file_header(header + body, trim_trailing_sep=trim)
        assert strip_file_header(once, trim_trailing_sep=trim) == once

    @given(body=_bodies)
    def test_trimmed_never_ends_with_separator_unless_root(self, body: str) -> None:
        """With ``trim_trailing_sep`` only the root may end with a separator."""
        trimmed = strip_file_header("file://" + body, trim_trailing_sep=True)
        assert trimmed == "/" or not trimmed.endswith("/")
        assert (trimmed == "") == (body == "")

    @given(body=st.text(SAFE_CHARS + "/:"))
    def test_only_the_header_is_removed(self, body: str) -> None:
        """Without trimming, the result is the input with at most a leading ``file://`` removed."""
        path = "file://" + body
        assert strip_file_header(path) == body
