"""Hypothesis strategies for storage paths: bases with and without a protocol, keys and names."""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = [
    "SAFE_CHARS",
    "bases",
    "keys",
    "local_bases",
    "names",
    "remote_bases",
    "segments",
    "stems",
]

SAFE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
"""Characters any backend accepts in a key segment without quoting."""

segments = st.text(SAFE_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
"""One path segment of safe characters; never ``.`` or ``..``."""

keys = st.lists(segments, min_size=1, max_size=4).map("/".join)
"""Relative keys (``a/b.txt``): one to four safe segments joined by ``/``."""

_buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True)
_prefixes = st.lists(segments, max_size=3).map("/".join)
_trailing = st.sampled_from(["", "/"])


@st.composite
def remote_bases(draw: st.DrawFn) -> str:
    """``s3://bucket/prefix``, ``gs://bucket``, ``abfs://container/dir/`` and the like."""
    protocol = draw(st.sampled_from(["s3", "s3a", "gs", "gcs", "abfs", "abfss", "az"]))
    bucket = draw(_buckets)
    prefix = draw(_prefixes)
    path = f"{bucket}/{prefix}" if prefix else bucket
    return f"{protocol}://{path}{draw(_trailing)}"


@st.composite
def local_bases(draw: st.DrawFn) -> str:
    """Absolute local paths (``/tmp/x``, ``/tmp/x/``), the root ``/`` included."""
    parts = draw(st.lists(segments, max_size=4))
    if not parts:
        return "/"
    return "/" + "/".join(parts) + draw(_trailing)


bases = remote_bases() | local_bases()
"""Any base a key can be joined to: remote with a protocol, or a local absolute path."""

_name_pieces = st.sampled_from(["a", "b1", "..", ".", "...", "a..b", "..a", "b..", "", "x.y"])
_name_seps = st.sampled_from(["/", "\\", "//"])


@st.composite
def names(draw: st.DrawFn) -> str:
    """Relative names as callers pass them, hostile ones included: ``..`` segments, backslashes."""
    pieces = draw(st.lists(_name_pieces | segments, min_size=1, max_size=5))
    result = pieces[0]
    for piece in pieces[1:]:
        result += draw(_name_seps) + piece
    return result


stems = keys
"""Stems for ``generate_new_custom_path``: relative keys without ``..`` segments."""
