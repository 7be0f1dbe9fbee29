"""Flyte's storage layouts in a YAML file: flytekit's ``storage.connection`` and the backend's stow.

Flyte's Go services (flytestdlib/storage, read through viper) and flytekit read one ``storage:``
section in two shapes:

- ``storage.connection`` (flytekit, ``flytectl demo``): endpoint, access-key, secret-key...
- ``storage.type`` + ``storage.stow.kind`` + ``storage.stow.config`` (the backend's layout, also in
  flyte-single-binary-local.yaml and the helm charts), or the older ``storage.kind`` +
  ``storage.config``; ``storage.container`` names the deployment's bucket.

:func:`read_storage` maps every key onto persist's fields; a key with no equivalent becomes a
:class:`~persist._sources._common.Note`, strict when ignoring it changes behaviour.
"""

from __future__ import annotations

import os
from typing import Any

from persist._sources._common import Layer, Note, Origin, did_you_mean
from persist.errors import ConfigError

__all__ = ["FLYTEKIT_CONNECTION", "FLYTE_SECTIONS", "STORAGE_TYPES", "STOW_KINDS", "read_storage"]

FLYTEKIT_CONNECTION: dict[str, str | None] = {
    "endpoint": "endpoint",
    "access-key": "access_key_id",
    "secret-key": "secret_access_key",
    "addressing-style": "addressing_style",
    "region": "region",
    # flytectl writes these; boto needs neither (the endpoint's scheme says whether TLS is used).
    "auth-type": None,
    "disable-ssl": None,
}
"""Keys of flytekit's ``storage.connection`` and the S3Config field each one sets."""

FLYTE_SECTIONS = frozenset(
    {
        "admin",
        "auth",
        "catalog-cache",
        "cluster_resources",
        "console",
        "database",
        "images",
        "logger",
        "platform",
        "plugins",
        "propeller",
        "secrets",
        "server",
        "storage",
        "task",
        "task_resources",
        "tasks",
        "webhook",
    }
)
"""Top-level keys that mark a Flyte, flytekit or flytectl config file."""

STORAGE_TYPES = ("s3", "minio", "stow", "local", "mem", "redis")
"""Values of ``storage.type`` Flyte accepts."""

STOW_KINDS = ("s3", "google", "azure", "local")
"""Values of ``storage.stow.kind`` persist reads (the stow backends for S3, GCS, Azure, disk)."""

_STOW_S3: dict[str, str | None] = {
    "access_key_id": "access_key_id",
    "secret_key": "secret_access_key",
    "token": "session_token",
    "region": "region",
    "addressing_style": "addressing_style",
    # Handled below: they shape other fields or are notes.
    "endpoint": None,
    "auth_type": None,
    "disable_ssl": None,
    "v2_signing": None,
}
_IAM_IGNORES = ("access_key_id", "secret_key", "token")
"""stow s3 keys that ``auth_type: iam`` ignores."""
_STOW_GOOGLE: dict[str, str | None] = {"project_id": "project", "json": None, "scopes": None}
_STOW_AZURE: dict[str, str | None] = {
    "account": "account_name",
    "key": "account_key",
    "domain_suffix": None,
    "base_url": None,
    "upload_concurrency": None,
}
_STOW_LOCAL: dict[str, str | None] = {"path": None}
_STOW_KEYS = {"s3": _STOW_S3, "google": _STOW_GOOGLE, "azure": _STOW_AZURE, "local": _STOW_LOCAL}
_SECTION_OF_KIND = {"s3": "s3", "google": "gcs", "azure": "azure"}
_SCHEME_OF_KIND = {"s3": "s3", "google": "gs", "azure": "abfs"}

_STORAGE_KEYS = frozenset(
    {"type", "container", "connection", "stow", "kind", "config", "raw-output-data-prefix"}
)
"""``storage`` keys persist reads; any other (limits, cache, enable-multicontainer...) is a note."""

_AZURE_PUBLIC_SUFFIX = "core.windows.net"


def _truthy(value: Any) -> bool:
    """A stow flag: stow compares the string with "true"; YAML may also give a boolean."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _lower_keys(mapping: dict[Any, Any]) -> dict[str, tuple[str, Any]]:
    """Keys lower-cased, as viper (which reads Flyte's files) matches them; keeps the spelling."""
    return {str(key).lower(): (str(key), value) for key, value in mapping.items()}


class _Reader:
    """Reads one file's ``storage`` section into a Layer, remembering where each value came from."""

    def __init__(self, path: str, layer: Layer) -> None:
        self.path = path
        self.layer = layer

    def problem(self, dotted: str, message: str) -> None:
        self.layer.problems.append(ConfigError(self.path, dotted, message))

    def note(self, dotted: str, message: str, *, strict: bool) -> None:
        self.layer.notes.append(Note(self.path, dotted, message, strict))

    def set(self, section: str, name: str, value: Any, dotted: str) -> None:
        """Set one field, unless another key of this file already set it differently."""
        current = self.layer.data.get(section, {})
        if isinstance(current, dict) and name in current and current[name] != value:
            first = self.layer.origins[(section, name)].key
            self.problem(dotted, f"disagrees with {first} ({section}.{name}); keep one of them")
            return
        self.layer.set(section, name, value, Origin(self.path, dotted))

    def read(self, storage: Any) -> None:
        if storage is None:
            return
        if not isinstance(storage, dict):
            self.problem("storage", "must be a mapping")
            return
        keys = _lower_keys(storage)
        kind = self._storage_type(keys)
        if "connection" in keys:
            self._connection(*keys["connection"])
        stow_kind = self._stow(keys, kind)
        if kind == "minio":
            self._imply_path_addressing("storage.type")
        ignored = sorted(
            f"storage.{written}" for key, (written, _) in keys.items() if key not in _STORAGE_KEYS
        )
        if ignored:
            self.note(
                ", ".join(ignored),
                "Flyte backend settings with no persist equivalent; ignored",
                strict=False,
            )
        self._bucket(keys, stow_kind or ("local" if kind == "local" else "s3"))

    def _storage_type(self, keys: dict[str, tuple[str, Any]]) -> str | None:
        if "type" not in keys:
            return None
        written, value = keys["type"]
        kind = str(value).strip().lower() if value is not None else ""
        if kind not in STORAGE_TYPES:
            self.problem(f"storage.{written}", "must be one of " + ", ".join(STORAGE_TYPES))
            return None
        if kind in ("mem", "redis"):
            self.note(
                f"storage.{written}",
                f"{kind}: Flyte keeps this data in {'memory' if kind == 'mem' else 'redis'}; "
                "persist has no equivalent and reads nothing from this setting",
                strict=True,
            )
        return kind

    def _connection(self, written: str, connection: Any) -> None:
        dotted_base = f"storage.{written}"
        if connection is None:
            return
        if not isinstance(connection, dict):
            self.problem(dotted_base, "must be a mapping")
            return
        for key, value in connection.items():
            dotted = f"{dotted_base}.{key}"
            if key not in FLYTEKIT_CONNECTION:
                self.problem(dotted, "unknown key; " + did_you_mean(str(key), list(FLYTEKIT_CONNECTION)))
                continue
            target = FLYTEKIT_CONNECTION[key]
            if target is not None:
                self.set("s3", target, value, dotted)

    def _stow(self, keys: dict[str, tuple[str, Any]], storage_type: str | None) -> str | None:
        """Read ``storage.stow`` (or the older ``storage.kind`` + ``storage.config``); return the kind."""
        if "stow" in keys:
            written, stow = keys["stow"]
            if "kind" in keys or "config" in keys:
                self.problem(
                    f"storage.{written}", "give either storage.stow or storage.kind/config, not both"
                )
                return None
            if stow is None:
                return None
            if not isinstance(stow, dict):
                self.problem(f"storage.{written}", "must be a mapping with kind and config")
                return None
            base = f"storage.{written}"
            inner = _lower_keys(stow)
            for key, (spelt, _) in inner.items():
                if key not in ("kind", "config"):
                    self.problem(f"{base}.{spelt}", "unknown key; allowed: kind, config")
            kind_entry, config_entry = inner.get("kind"), inner.get("config")
        elif "kind" in keys or "config" in keys:
            base = "storage"
            kind_entry, config_entry = keys.get("kind"), keys.get("config")
        else:
            return None
        if kind_entry is None:
            # Flyte's default stow kind is s3.
            kind_written, kind = "kind", "s3"
        else:
            kind_written, raw = kind_entry
            kind = str(raw).strip().lower() if raw is not None else ""
        if kind not in STOW_KINDS:
            self.problem(f"{base}.{kind_written}", "must be one of " + ", ".join(STOW_KINDS))
            return None
        if config_entry is None:
            return kind
        config_written, config = config_entry
        cbase = f"{base}.{config_written}"
        if config is None:
            return kind
        if not isinstance(config, dict):
            self.problem(cbase, "must be a mapping of stow settings")
            return kind
        self._stow_config(kind, cbase, _lower_keys(config))
        return kind

    def _stow_config(self, kind: str, base: str, config: dict[str, tuple[str, Any]]) -> None:
        allowed = _STOW_KEYS[kind]
        section = _SECTION_OF_KIND.get(kind)
        auth = str(config.get("auth_type", ("", ""))[1]).strip().lower()
        for key, (written, value) in config.items():
            if key not in allowed:
                self.problem(f"{base}.{written}", "unknown key; " + did_you_mean(key, list(allowed)))
                continue
            target = allowed[key]
            if auth == "iam" and key in _IAM_IGNORES:
                continue  # Flyte ignores keys under iam; _stow_s3 says so
            if target is not None and section is not None and value is not None and value != "":
                # stow's config is a map of strings: `access_key_id: 12345` is the text "12345".
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = str(value)
                self.set(section, target, value, f"{base}.{written}")
        if kind == "s3":
            self._stow_s3(base, config)
        elif kind == "google":
            self._stow_google(base, config)
        elif kind == "azure":
            self._stow_azure(base, config)

    def _stow_s3(self, base: str, config: dict[str, tuple[str, Any]]) -> None:
        if "auth_type" in config:
            written, value = config["auth_type"]
            auth = str(value).strip().lower()
            if auth not in ("accesskey", "iam"):
                self.problem(f"{base}.{written}", "must be accesskey or iam")
            elif auth == "iam":
                given = [config[k][0] for k in _IAM_IGNORES if config.get(k, ("", ""))[1]]
                if given:
                    self.note(
                        f"{base}.{written}",
                        "iam means the provider chain (instance role, IRSA, AWS_* variables), yet "
                        + ", ".join(given)
                        + " also given; they are ignored, as Flyte ignores them: "
                        "remove them or use auth_type: accesskey",
                        strict=True,
                    )
        disable_ssl = _truthy(config.get("disable_ssl", ("", None))[1])
        if "endpoint" in config:
            written, value = config["endpoint"]
            if isinstance(value, str) and value.strip():
                endpoint = value.strip()
                if "://" not in endpoint:
                    # What aws-sdk-go (stow's client) does with a bare host: disable_ssl picks http.
                    endpoint = ("http://" if disable_ssl else "https://") + endpoint
                self.set("s3", "endpoint", endpoint, f"{base}.{written}")
                # stow forces path-style requests whenever an endpoint is given.
                self._imply_path_addressing(f"{base}.{written}")
        if "v2_signing" in config and _truthy(config["v2_signing"][1]):
            self.note(
                f"{base}.{config['v2_signing'][0]}",
                "true has no persist equivalent: persist signs requests with Signature Version 4, "
                "which the store must accept",
                strict=True,
            )

    def _imply_path_addressing(self, dotted: str) -> None:
        if ("s3", "addressing_style") not in self.layer.origins:
            self.set("s3", "addressing_style", "path", dotted)

    def _stow_google(self, base: str, config: dict[str, tuple[str, Any]]) -> None:
        if "json" in config:
            written, value = config["json"]
            if value not in (None, ""):
                # The inline JSON is a private key: persist keeps credentials out of config
                # values it shows and caches, and GCSConfig.token names a file instead.
                self.note(
                    f"{base}.{written}",
                    "inline service-account JSON is not read; mount it as a file and set gcs.token "
                    "(PERSIST_GCS__TOKEN) to its path",
                    strict=True,
                )
        if "scopes" in config:
            self.note(
                f"{base}.{config['scopes'][0]}",
                "no persist equivalent; the credentials' own scopes apply",
                strict=False,
            )

    def _stow_azure(self, base: str, config: dict[str, tuple[str, Any]]) -> None:
        account = config.get("account", ("", None))[1]
        for key in ("domain_suffix", "base_url"):
            if key not in config:
                continue
            written, suffix = config[key]
            if not isinstance(suffix, str) or not suffix.strip() or suffix.strip() == _AZURE_PUBLIC_SUFFIX:
                continue
            if not account:
                self.problem(f"{base}.{written}", "needs account, to build the blob host name")
                continue
            self.set("azure", "account_host", f"{account}.blob.{suffix.strip()}", f"{base}.{written}")
        if "upload_concurrency" in config:
            self.note(
                f"{base}.{config['upload_concurrency'][0]}",
                "no persist equivalent (generic.max_concurrency bounds files in flight); ignored",
                strict=False,
            )

    def _bucket(self, keys: dict[str, tuple[str, Any]], kind: str) -> None:
        if "raw-output-data-prefix" in keys:
            written, prefix = keys["raw-output-data-prefix"]
            if isinstance(prefix, str) and prefix.strip():
                self.layer.bucket = (prefix.strip(), Origin(self.path, f"storage.{written}"))
                return
        if "container" not in keys:
            return
        written, container = keys["container"]
        if not isinstance(container, str) or not container.strip():
            return
        origin = Origin(self.path, f"storage.{written}")
        if kind == "local":
            root = self._local_path(keys)
            self.layer.bucket = (os.path.join(root, container.strip()) if root else container.strip(), origin)
        else:
            self.layer.bucket = (f"{_SCHEME_OF_KIND[kind]}://{container.strip()}", origin)

    def _local_path(self, keys: dict[str, tuple[str, Any]]) -> str | None:
        stow = keys.get("stow", ("", None))[1]
        config = stow.get("config") if isinstance(stow, dict) else keys.get("config", ("", None))[1]
        path = _lower_keys(config).get("path", ("", None))[1] if isinstance(config, dict) else None
        return str(path) if path else None


def read_storage(path: str, document: dict[str, Any], layer: Layer) -> None:
    """Read a Flyte/flytekit file's ``storage`` section into ``layer``; other sections are ignored."""
    storage_key = next((key for key in document if str(key).lower() == "storage"), None)
    storage = document.get(storage_key) if storage_key is not None else None
    _Reader(path, layer).read(storage)
    read = isinstance(storage, dict) and any(str(key).lower() in _STORAGE_KEYS for key in storage)
    if not read and not layer.problems:
        layer.notes.append(
            Note(
                path,
                "storage",
                "no storage settings found; persist reads storage.connection, storage.stow "
                "(or storage.kind and storage.config) and storage.container",
                True,
            )
        )
