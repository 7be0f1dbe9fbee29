"""Pure path helpers: protocols, joins, file tails and checks that a name stays under its prefix."""

from __future__ import annotations

import os
import posixpath

from persist.errors import InvalidInputError

__all__ = [
    "check_relative_key",
    "get_file_tail",
    "get_protocol",
    "is_remote",
    "join",
    "split_protocol",
    "strip_file_header",
]

_PROTOCOL_SEP = "://"


def split_protocol(path: str | os.PathLike[str]) -> tuple[str | None, str]:
    """Split ``s3://bucket/key`` into ``("s3", "bucket/key")``; a plain path has no protocol.

    A one-letter "protocol" is a Windows drive (``C://x``), not a protocol.
    """
    text = os.fspath(path)
    protocol, sep, rest = text.partition(_PROTOCOL_SEP)
    if sep and len(protocol) > 1:
        return protocol, rest
    return None, text


def get_protocol(path: str | os.PathLike[str]) -> str:
    """The protocol of a path, ``file`` when it has none."""
    return split_protocol(path)[0] or "file"


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether a path lives anywhere but the local filesystem."""
    return get_protocol(path) not in ("file", "local")


def strip_file_header(path: str, trim_trailing_sep: bool = False) -> str:
    """Drop a leading ``file://``; with ``trim_trailing_sep``, also trailing separators.

    The root (``/``) is never trimmed to an empty string.
    """
    if path.startswith("file://"):
        path = path[len("file://") :]
    if trim_trailing_sep:
        trimmed = path.rstrip("/" + os.sep)
        path = trimmed or path[:1]
    return path


def get_file_tail(file_path_or_file_name: str) -> str:
    """The last component of a path (``"a/b.txt"`` gives ``"b.txt"``; ``"a/"`` gives ``""``)."""
    return posixpath.split(file_path_or_file_name.replace(os.sep, "/"))[1]


def join(*parts: str, sep: str = "/") -> str:
    """Join path parts with one separator between each, keeping the first part's protocol.

    ``join("s3://b/raw/", "x", "y.txt")`` gives ``"s3://b/raw/x/y.txt"``. Empty parts are skipped.
    """
    if not parts:
        raise InvalidInputError("join needs at least one path part")
    head, *rest = parts
    protocol, path = split_protocol(head)
    scheme = f"{protocol}{_PROTOCOL_SEP}" if protocol else ""
    tails = [part.strip(sep) for part in rest if part.strip(sep)]
    if not tails:
        return head
    base = path.rstrip(sep)
    if base or path.startswith(sep):
        return scheme + sep.join([base, *tails])
    return scheme + sep.join(tails)


def check_relative_key(name: str, what: str, prefix: str) -> None:
    """Refuse a relative name that could leave ``prefix``: one with a ``..`` segment (either slash).

    A leading separator is harmless, as ``join`` strips it; ``a..b`` is an ordinary name.

    Raises:
        InvalidInputError: naming the value, the prefix it would escape and what is allowed.
    """
    segments = name.replace("\\", "/").split("/")
    if ".." in segments:
        raise InvalidInputError(f"{what} {name!r} escapes {prefix}; use a name without '..' segments")
