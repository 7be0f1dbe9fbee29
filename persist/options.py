"""Pure translation of config models into fsspec storage options and per-call kwargs.

Nothing here does I/O or reads the environment: the same models always give the same dicts.
This module and ``_plan.py`` (persist's own engines) are the only ones that unwrap secrets.
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import urlsplit

from pydantic import SecretStr

from persist.config import AzureBlobStorageConfig, DataConfig, GCSConfig, GenericPersistenceConfig, S3Config

__all__ = [
    "AZURE_PROTOCOLS",
    "CONFIGURED_PROTOCOLS",
    "FILE_PROTOCOLS",
    "GCS_ENDPOINT_CONTROL_RETRY_SECONDS",
    "GCS_PROTOCOLS",
    "S3_PROTOCOLS",
    "AzureOptions",
    "GCSOptions",
    "S3Options",
    "azure_setup_args",
    "gcs_setup_args",
    "get_additional_fsspec_call_kwargs",
    "get_fsspec_storage_options",
    "s3_setup_args",
]

S3_PROTOCOLS = ("s3", "s3a")
"""Protocols served by s3fs."""

GCS_PROTOCOLS = ("gs", "gcs")
"""Protocols served by gcsfs."""

AZURE_PROTOCOLS = ("abfs", "abfss", "az")
"""Protocols served by adlfs."""

FILE_PROTOCOLS = ("file", "local")
"""Protocols of the local filesystem."""

CONFIGURED_PROTOCOLS = (*FILE_PROTOCOLS, *S3_PROTOCOLS, *GCS_PROTOCOLS, *AZURE_PROTOCOLS)
"""Protocols whose storage options come from the config; any other gets the caller's kwargs."""

GCS_ENDPOINT_CONTROL_RETRY_SECONDS = 0.1
"""gcsfs's ``retry_timeout`` when ``gcs.endpoint`` is set: seconds of Storage Control API retries.

Unless ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` is set before gcsfs is imported, recent gcsfs
asks the Storage Control gRPC API for each bucket's type before most operations, and retries a
failed lookup for 60 s. An emulator has no such API, so every call stalled for about a minute
(``pandas.read_parquet`` included). With this bound the lookup fails after one quick attempt and
gcsfs carries on over JSON; gcsfs without the probe ignores the option.
"""


class S3Options(TypedDict, total=False):
    """Keyword arguments of ``s3fs.S3FileSystem`` that persist sets."""

    cache_regions: bool
    key: str
    secret: str
    token: str
    anon: bool
    client_kwargs: dict[str, Any]
    config_kwargs: dict[str, Any]
    requester_pays: bool


class GCSOptions(TypedDict, total=False):
    """Keyword arguments of ``gcsfs.GCSFileSystem`` that persist sets."""

    token: str
    project: str
    endpoint_url: str
    requester_pays: bool
    retry_timeout: float
    requests_timeout: Any


class AzureOptions(TypedDict, total=False):
    """Keyword arguments of ``adlfs.AzureBlobFileSystem`` that persist sets."""

    account_name: str
    account_key: str
    tenant_id: str
    client_id: str
    client_secret: str
    connection_string: str
    sas_token: str
    account_host: str
    anon: bool
    connection_timeout: int
    read_timeout: int


def s3_setup_args(
    s3_cfg: S3Config, anonymous: bool = False, timeouts: GenericPersistenceConfig | None = None
) -> dict[str, Any]:
    """Storage options for s3fs from an S3Config.

    With nothing configured the result is ``{"cache_regions": True}``. Unlike flytekit, the
    configured addressing style is used (not always ``virtual``), explicitly set ``retries`` reach
    botocore as total attempts, and the region and session token are passed.

    Args:
        s3_cfg: the S3 section.
        anonymous: access public buckets without credentials (``anon=True``).
        timeouts: the section holding ``connect_timeout`` and ``read_timeout``; they become
            botocore's ``config_kwargs``. ``None`` (flytekit's call) leaves botocore's own.

    Returns:
        A plain dict for ``s3fs.S3FileSystem(**options)`` or a ``storage_options`` argument.
    """
    options: S3Options = {"cache_regions": True}
    if s3_cfg.access_key_id:
        options["key"] = s3_cfg.access_key_id
    if s3_cfg.secret_access_key is not None:
        options["secret"] = s3_cfg.secret_access_key.get_secret_value()
    if s3_cfg.session_token is not None:
        options["token"] = s3_cfg.session_token.get_secret_value()
    client_kwargs: dict[str, Any] = {}
    if s3_cfg.endpoint:
        client_kwargs["endpoint_url"] = s3_cfg.endpoint
    if s3_cfg.region:
        client_kwargs["region_name"] = s3_cfg.region
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    config_kwargs: dict[str, Any] = {}
    explicit = s3_cfg.model_fields_set
    if "addressing_style" in explicit or s3_cfg.addressing_style != "auto":
        config_kwargs["s3"] = {"addressing_style": s3_cfg.addressing_style}
    if "retries" in explicit:
        # botocore counts the first attempt too; ``retries`` counts only the retries.
        config_kwargs["retries"] = {"total_max_attempts": s3_cfg.retries + 1, "mode": "standard"}
    if timeouts is not None:
        # botocore's read_timeout is aiohttp's sock_read: the longest wait for the next bytes,
        # so a long transfer that keeps moving is never cut.
        config_kwargs["connect_timeout"] = timeouts.connect_timeout.total_seconds()
        config_kwargs["read_timeout"] = timeouts.read_timeout.total_seconds()
    if config_kwargs:
        options["config_kwargs"] = config_kwargs
    if s3_cfg.requester_pays:
        options["requester_pays"] = True
    if anonymous:
        options["anon"] = True
    return dict(options)


def _gcs_timeout(timeouts: GenericPersistenceConfig) -> Any:
    """The aiohttp ClientTimeout for gcsfs's ``requests_timeout``, or None without aiohttp.

    gcsfs hands ``requests_timeout`` to every aiohttp request; a plain number would be a
    *total* limit that cuts long, healthy transfers, so persist passes connect and per-read
    (``sock_read``) limits instead.
    """
    try:
        from aiohttp import ClientTimeout
    except ImportError:  # gcsfs needs aiohttp: without it there is no GCS client to configure
        return None
    connect = timeouts.connect_timeout.total_seconds()
    return ClientTimeout(
        connect=connect, sock_connect=connect, sock_read=timeouts.read_timeout.total_seconds()
    )


def gcs_setup_args(
    gcs_cfg: GCSConfig, anonymous: bool = False, timeouts: GenericPersistenceConfig | None = None
) -> dict[str, Any]:
    """Storage options for gcsfs from a GCSConfig.

    Args:
        gcs_cfg: the GCS section.
        anonymous: access public buckets without credentials (``token="anon"``).
        timeouts: the section holding ``connect_timeout`` and ``read_timeout``; they become
            an aiohttp ``ClientTimeout`` in ``requests_timeout``. ``None`` leaves gcsfs's own.

    Returns:
        A plain dict for ``gcsfs.GCSFileSystem(**options)``; empty when nothing is configured.
        With an ``endpoint`` it also holds ``retry_timeout``, so that any fsspec caller's gcsfs
        gives up its bucket-type probe at once (see ``GCS_ENDPOINT_CONTROL_RETRY_SECONDS``).
    """
    options: GCSOptions = {}
    if anonymous:
        options["token"] = "anon"  # noqa: S105 - gcsfs's name for no credentials
    elif gcs_cfg.token:
        options["token"] = gcs_cfg.token
    if gcs_cfg.project:
        options["project"] = gcs_cfg.project
    if gcs_cfg.endpoint:
        options["endpoint_url"] = gcs_cfg.endpoint
        options["retry_timeout"] = GCS_ENDPOINT_CONTROL_RETRY_SECONDS
    if gcs_cfg.requester_pays:
        options["requester_pays"] = True
    if timeouts is not None:
        limit = _gcs_timeout(timeouts)
        if limit is not None:
            options["requests_timeout"] = limit
    return dict(options)


def is_base64_secret(secret: SecretStr) -> bool:
    """Whether a secret (an Azure account key) is valid base64; the value stays here."""
    import base64
    import binascii

    try:
        base64.b64decode(secret.get_secret_value().strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def azure_setup_args(
    azure_cfg: AzureBlobStorageConfig,
    anonymous: bool = False,
    timeouts: GenericPersistenceConfig | None = None,
) -> dict[str, Any]:
    """Storage options for adlfs from an AzureBlobStorageConfig.

    An ``account_host`` that adlfs cannot take as a plain host (an ``http://`` URL, or one with
    a path, as emulators such as Azurite use) becomes a connection string naming that endpoint.

    Args:
        azure_cfg: the Azure section.
        anonymous: access public containers without credentials.
        timeouts: the section holding ``connect_timeout`` and ``read_timeout``; adlfs passes
            them (whole seconds, at least 1) to azure-core for blob reads and writes.

    Returns:
        A plain dict for ``adlfs.AzureBlobFileSystem(**options)``; ``anon`` is always present.
    """
    options: AzureOptions = {}
    for name in ("account_name", "tenant_id", "client_id"):
        value = getattr(azure_cfg, name)
        if value:
            options[name] = value
    for name in ("account_key", "client_secret", "connection_string", "sas_token"):
        secret = getattr(azure_cfg, name)
        if secret is not None:
            options[name] = secret.get_secret_value()  # type: ignore[literal-required]
    if azure_cfg.account_host:
        host = azure_cfg.account_host
        parts = urlsplit(host) if "://" in host else None
        if parts is None:
            options["account_host"] = host
        elif parts.scheme == "https" and parts.path in ("", "/"):
            options["account_host"] = parts.netloc
        elif "connection_string" not in options:
            options["connection_string"] = _connection_string(azure_cfg, options, parts.geturl())
    options["anon"] = anonymous
    if timeouts is not None:
        # adlfs documents these as int seconds; azure-core's aiohttp transport takes them as
        # its connect and per-read (sock_read) limits.
        options["connection_timeout"] = max(1, round(timeouts.connect_timeout.total_seconds()))
        options["read_timeout"] = max(1, round(timeouts.read_timeout.total_seconds()))
    return dict(options)


def _connection_string(azure_cfg: AzureBlobStorageConfig, options: AzureOptions, url: str) -> str:
    """A connection string for an endpoint adlfs cannot build from ``account_host`` alone."""
    parts = urlsplit(url)
    endpoint = url.rstrip("/")
    if parts.path in ("", "/") and azure_cfg.account_name:
        # Emulators serve each account under a path: http://127.0.0.1:10000/devstoreaccount1
        endpoint = f"{endpoint}/{azure_cfg.account_name}"
    fields = [f"DefaultEndpointsProtocol={parts.scheme}"]
    if azure_cfg.account_name:
        fields.append(f"AccountName={azure_cfg.account_name}")
    if "account_key" in options:
        fields.append(f"AccountKey={options['account_key']}")
    fields.append(f"BlobEndpoint={endpoint}")
    if "sas_token" in options:
        fields.append(f"SharedAccessSignature={options['sas_token'].lstrip('?')}")
    return ";".join(fields) + ";"


def get_fsspec_storage_options(
    protocol: str,
    data_config: DataConfig | None = None,
    anonymous: bool = False,
    *,
    path: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Storage options for a protocol, with the caller's kwargs merged last (they win).

    Args:
        protocol: ``file``, ``s3``/``s3a``, ``gs``/``gcs``, ``abfs``/``abfss``/``az``, or any
            other fsspec protocol (which gets the caller's kwargs unchanged).
        data_config: the configuration; ``None`` means the defaults. This function reads no
            environment: pass ``DataConfig.auto()`` to use the config sources.
        anonymous: build options for unauthenticated access.
        path: the URL the options are for: when a named store (``data_config.stores``) serves
            it, the options are that store's (anonymous if the store is); else the top-level
            sections' as without it.
        **kwargs: options that override the configured ones.

    Returns:
        A new plain dict. S3 and Azure options carry ``generic.connect_timeout`` and
        ``generic.read_timeout`` in each client's own terms, so pandas and dask calls made
        with them are bounded too (GCS's need an object that is not plain JSON; see below).

    **Usage**: ``pd.read_parquet(url, storage_options=get_fsspec_storage_options("s3", cfg, path=url))``
    """
    config = data_config if data_config is not None else DataConfig()
    if path is not None and config.stores:
        from persist._stores import config_for

        _, config, store_anonymous = config_for(config, path)
        anonymous = anonymous or store_anonymous
    if protocol in FILE_PROTOCOLS:
        return {"auto_mkdir": True, **kwargs}
    timeouts = config.generic
    if protocol in S3_PROTOCOLS:
        return {**s3_setup_args(config.s3, anonymous=anonymous, timeouts=timeouts), **kwargs}
    if protocol in GCS_PROTOCOLS:
        # gcsfs takes its limits only as an aiohttp ClientTimeout object; these options stay
        # plain JSON (``persist options`` prints them, dask ships them), so only persist's own
        # GCS filesystem gets them (gcs_setup_args(..., timeouts=...)).
        return {**gcs_setup_args(config.gcs, anonymous=anonymous), **kwargs}
    if protocol in AZURE_PROTOCOLS:
        return {**azure_setup_args(config.azure, anonymous=anonymous, timeouts=timeouts), **kwargs}
    return dict(kwargs)


def get_additional_fsspec_call_kwargs(
    protocol: str | tuple[str, ...], method_name: str, data_config: DataConfig | None = None
) -> dict[str, Any]:
    """Extra kwargs for one fsspec call, such as the multipart ``chunksize`` of ``put``.

    Args:
        protocol: a protocol, or a filesystem's tuple of protocols (``("s3", "s3a")``).
        method_name: the fsspec method; underscores are ignored (``_put`` is ``put``).
        data_config: the configuration; ``None`` means the defaults.

    Returns:
        A new plain dict, empty when the call needs nothing extra.
    """
    config = data_config if data_config is not None else DataConfig()
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    method = method_name.replace("_", "")
    if method == "put" and protocols & {*S3_PROTOCOLS, *GCS_PROTOCOLS}:
        return {"chunksize": config.generic.write_chunk_size_bytes}
    return {}
