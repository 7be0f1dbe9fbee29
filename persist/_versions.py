"""Installed backend versions, and the releases known to corrupt or lose data."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any

from persist._plan import choose_engine
from persist.options import AZURE_PROTOCOLS, GCS_PROTOCOLS, S3_PROTOCOLS

if TYPE_CHECKING:
    from persist.config import DataConfig

__all__ = [
    "KNOWN_BAD_FILE",
    "REPORTED_PACKAGES",
    "Finding",
    "KnownBadVersion",
    "VersionLookup",
    "backends_for",
    "find_known_bad",
    "installed_version",
    "installed_versions",
    "load_known_bad",
]

KNOWN_BAD_FILE = "known_bad_versions.json"
"""The data file, inside the persist package, listing releases known to corrupt or lose data."""

REPORTED_PACKAGES = (
    "fsspec",
    "s3fs",
    "gcsfs",
    "adlfs",
    "obstore",
    "pydantic",
    "pydantic-settings",
    "botocore",
    "aiobotocore",
    "azure-storage-blob",
    "azure-identity",
    "google-auth",
    "aiohttp",
    "click",
    "PyYAML",
)
"""Distributions ``persist version`` reports: the libraries that move and describe the bytes."""

VersionLookup = Callable[[str], "str | None"]
"""Maps a distribution name to its installed version, or None when it is not installed."""

_CORE = ("pydantic", "pydantic-settings")
_FSSPEC_S3 = ("fsspec", "s3fs", "aiobotocore", "botocore")
_FSSPEC_AZURE = ("fsspec", "adlfs", "azure-storage-blob")


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_versions(
    names: Iterable[str], lookup: VersionLookup = installed_version
) -> dict[str, str | None]:
    """``{name: version or None}`` for each distribution in ``names``, in order."""
    return {name: lookup(name) for name in names}


@dataclass(frozen=True)
class KnownBadVersion:
    """One entry of the known-bad data file: releases of a package that corrupt or lose data."""

    package: str
    """Distribution name, as pip knows it (``s3fs``)."""
    versions: str
    """The bad releases, as a PEP 440 specifier (``==2024.10.0``)."""
    breaks: str
    """What goes wrong, in one sentence."""
    link: str
    """The public report (issue or pull request) that documents it."""
    protocols: tuple[str, ...] = ()
    """The protocols the defect hits; empty when it hits every one."""

    def matches(self, version: str) -> bool:
        """Whether ``version`` is one of the bad releases (an unparsable version never is)."""
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version

        try:
            parsed = Version(version)
        except InvalidVersion:
            return False
        return SpecifierSet(self.versions).contains(parsed, prereleases=True)


@dataclass(frozen=True)
class Finding:
    """A known-bad release that is installed."""

    entry: KnownBadVersion
    installed: str

    def __str__(self) -> str:
        e = self.entry
        return (
            f"{e.package} {self.installed} is known to corrupt or lose data: {e.breaks} ({e.link}); "
            f"install a release outside {e.package}{e.versions}"
        )


_FIELDS = {"package": str, "versions": str, "breaks": str, "link": str}


def load_known_bad(text: str | None = None, source: str = KNOWN_BAD_FILE) -> tuple[KnownBadVersion, ...]:
    """Parse the known-bad data file (persist's own copy unless ``text`` is given).

    Args:
        text: JSON text to parse instead of the packaged file.
        source: Name used in error messages.

    Returns:
        The entries, in file order.

    Raises:
        ValueError: The text is not valid JSON, or an entry lacks a field, has a field of the
            wrong type, a specifier that does not parse, or a link that is not an https URL.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if text is None:
        text = resources.files("persist").joinpath(KNOWN_BAD_FILE).read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON: {exc}") from exc
    items = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{source}: entries: expected a list of objects")
    entries = []
    for index, item in enumerate(items):
        where = f"{source}: entries[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object with {', '.join(_FIELDS)}")
        unknown = sorted(set(item) - {*_FIELDS, "protocols"})
        if unknown:
            raise ValueError(
                f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(_FIELDS)}, protocols"
            )
        for name, kind in _FIELDS.items():
            if not isinstance(item.get(name), kind) or not item[name]:
                raise ValueError(f"{where}.{name}: required, a non-empty string")
        protocols = item.get("protocols", [])
        if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
            raise ValueError(f"{where}.protocols: expected a list of protocol names")
        try:
            SpecifierSet(item["versions"])
        except InvalidSpecifier as exc:
            raise ValueError(f"{where}.versions: not a PEP 440 specifier: {item['versions']!r}") from exc
        if not item["link"].startswith("https://"):
            raise ValueError(f"{where}.link: expected an https:// URL to the public report")
        entries.append(
            KnownBadVersion(
                package=item["package"],
                versions=item["versions"],
                breaks=item["breaks"],
                link=item["link"],
                protocols=tuple(protocols),
            )
        )
    return tuple(entries)


def find_known_bad(
    packages: Iterable[str] | None = None,
    protocols: Iterable[str] | None = None,
    lookup: VersionLookup = installed_version,
    entries: Iterable[KnownBadVersion] | None = None,
) -> list[Finding]:
    """The known-bad releases that are installed.

    Args:
        packages: Only these distributions (default: every package the data file names).
        protocols: Only entries that hit one of these protocols (default: any protocol).
        lookup: How to find an installed version (tests pass a fake one).
        entries: The entries to check (default: :func:`load_known_bad`).

    Returns:
        One finding per matching entry, in data-file order.
    """
    wanted = None if packages is None else {_normalize(p) for p in packages}
    used = None if protocols is None else set(protocols)
    findings = []
    for entry in load_known_bad() if entries is None else entries:
        if wanted is not None and _normalize(entry.package) not in wanted:
            continue
        if used is not None and entry.protocols and not used.intersection(entry.protocols):
            continue
        version = lookup(entry.package)
        if version is not None and entry.matches(version):
            findings.append(Finding(entry, version))
    return findings


def backends_for(protocols: Iterable[str], data_config: DataConfig) -> tuple[str, ...]:
    """The distributions that serve ``protocols`` under ``data_config``, config models first.

    With the obstore engine (``generic.engine``), obstore moves the bytes and the fsspec
    backend still lists and checks paths, so both are named.
    """
    names: list[str] = list(_CORE)
    for protocol in protocols:
        if protocol in S3_PROTOCOLS:
            stack: tuple[str, ...] = _FSSPEC_S3
        elif protocol in AZURE_PROTOCOLS:
            stack = _FSSPEC_AZURE
        elif protocol in GCS_PROTOCOLS:
            stack = ("fsspec", "gcsfs")
        else:
            stack = ("fsspec",)
        if choose_engine(protocol, data_config) == "obstore":
            stack = ("obstore", *stack)
        names.extend(name for name in stack if name not in names)
    return tuple(names)


def python_version() -> str:
    """This interpreter, as ``3.11.7 (CPython)``."""
    return f"{platform.python_version()} ({platform.python_implementation()})"


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def version_report(lookup: VersionLookup = installed_version) -> dict[str, Any]:
    """The versions of persist, Python and each reported distribution (None: not installed)."""
    from persist import __version__

    packages: Mapping[str, str | None] = installed_versions(REPORTED_PACKAGES, lookup)
    return {"persist": __version__, "python": python_version(), "packages": dict(packages)}
