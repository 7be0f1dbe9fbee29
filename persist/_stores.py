"""Which named store serves a URL: a pure function of the config and the URL (no I/O).

A store's prefixes are compared with the URL segment by segment: ``s3://data/`` serves
``s3://data/x`` but not ``s3://database/x``; a prefix that does not end in ``/`` also matches
longer names in its last segment (``s3://team-a-`` serves every bucket whose name starts with
``team-a-``). Of the stores that match, the longest prefix wins; declaration order never
matters (two stores cannot claim the same prefix). A URL no store matches uses the top-level
sections, exactly as without stores.

Schemes that name the same backend are one: ``s3a`` is ``s3``, ``gcs`` is ``gs``, ``abfss`` and
``az`` are ``abfs``.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from persist.config import AzureBlobStorageConfig, DataConfig, GCSConfig, S3Config, StoreConfig

__all__ = ["StoreMatch", "config_for", "match_store", "normalize_prefix", "normalize_url"]

_CANONICAL_SCHEME = {"s3a": "s3", "gcs": "gs", "abfss": "abfs", "az": "abfs"}


@dataclass(frozen=True)
class StoreMatch:
    """The store serving a URL, and the prefix that matched (as the config wrote it)."""

    name: str
    prefix: str


def _split(url: str) -> tuple[str, list[str]]:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", [part for part in url.split("/") if part]
    scheme = scheme.lower()
    return _CANONICAL_SCHEME.get(scheme, scheme), [part for part in rest.split("/") if part]


@functools.lru_cache(maxsize=1024)  # each call matches every prefix: keep their normal forms
def normalize_prefix(prefix: str) -> str:
    """A prefix in the form matching compares: canonical scheme, no empty segments.

    A trailing ``/`` is kept: it says the last segment is a whole name.
    """
    scheme, parts = _split(prefix)
    whole = prefix.endswith("/")
    return f"{scheme}://" + "/".join(parts) + ("/" if whole and parts else "")


def normalize_url(url: str) -> str:
    """A URL in the form matching compares: canonical scheme, segments each ending in ``/``."""
    scheme, parts = _split(url)
    return f"{scheme}://" + "".join(f"{part}/" for part in parts)


def match_store(stores: Mapping[str, StoreConfig], url: str) -> StoreMatch | None:
    """The store whose longest prefix matches ``url`` segment by segment, or None.

    Args:
        stores: the named stores (``DataConfig.stores``).
        url: any path; a local path or a URL of another scheme matches no store.

    Returns:
        The winning store's name and matching prefix, or None when no store serves ``url``.
    """
    if "://" not in url:
        return None
    target = normalize_url(url)
    best: tuple[int, StoreMatch] | None = None
    for name, store in stores.items():
        for prefix in store.prefixes:
            key = normalize_prefix(prefix)
            if target.startswith(key) and (best is None or len(key) > best[0]):
                best = (len(key), StoreMatch(name, prefix))
    return None if best is None else best[1]


_DERIVED: dict[int, tuple[weakref.ref[DataConfig], dict[str, DataConfig]]] = {}
"""Each config's store configs, built once: keyed by id, as hashing a whole config per call
(every store's models) would cost more than the match itself. Entries go with their config."""
_DERIVED_LOCK = threading.Lock()


def _forget(key: int, _: object) -> None:
    _DERIVED.pop(key, None)


def _store_config(data_config: DataConfig, name: str) -> DataConfig:
    key = id(data_config)
    with _DERIVED_LOCK:
        entry = _DERIVED.get(key)
        if entry is None or entry[0]() is not data_config:
            entry = (weakref.ref(data_config, functools.partial(_forget, key)), {})
            _DERIVED[key] = entry
        built = entry[1].get(name)
        if built is None:
            store = data_config.stores[name]
            built = entry[1][name] = DataConfig(
                s3=store.s3 or S3Config(),
                gcs=store.gcs or GCSConfig(),
                azure=store.azure or AzureBlobStorageConfig(),
                # The one thing a store shares with the top level (documented in the README).
                generic=data_config.generic,
            )
        return built


def config_for(data_config: DataConfig, url: str) -> tuple[StoreMatch | None, DataConfig, bool]:
    """The config that serves ``url``: its store's, else ``data_config`` itself.

    Returns:
        The match (None when no store serves ``url``), a DataConfig whose sections are the
        store's own (the model's defaults where the store gave no section; ``generic`` is the
        top level's) or ``data_config`` unchanged, and whether the store is anonymous.
    """
    found = match_store(data_config.stores, url) if data_config.stores else None
    if found is None:
        return None, data_config, False
    return found, _store_config(data_config, found.name), data_config.stores[found.name].anonymous
