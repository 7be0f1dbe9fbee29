"""Pure translation of config models into fsspec storage options and per-call kwargs.

Nothing here does I/O or reads the environment: the same models always give the same dicts.
This is the only module that unwraps secrets (``get_secret_value``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

from pydantic import SecretStr

from persist.config import (
    AzureBlobStorageConfig,
    DataConfig,
    GCSConfig,
    GenericPersistenceConfig,
    MiB,
    S3Config,
)

__all__ = [
    "AZURE_MAX_BLOCKS",
    "AZURE_PROTOCOLS",
    "CONFIGURED_PROTOCOLS",
    "FILE_PROTOCOLS",
    "GCS_ENDPOINT_CONTROL_RETRY_SECONDS",
    "GCS_PROTOCOLS",
    "S3_MAX_PARTS",
    "S3_PROTOCOLS",
    "AzureOptions",
    "GCSOptions",
    "S3Options",
    "azure_setup_args",
    "choose_engine",
    "endpoint_host",
    "gcs_setup_args",
    "get_additional_fsspec_call_kwargs",
    "get_fsspec_storage_options",
    "is_base64_secret",
    "obstore_part_size",
    "obstore_setup_args",
    "s3_setup_args",
    "secret_values",
    "upload_part_size",
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
    protocol: str, data_config: DataConfig | None = None, anonymous: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Storage options for a protocol, with the caller's kwargs merged last (they win).

    Args:
        protocol: ``file``, ``s3``/``s3a``, ``gs``/``gcs``, ``abfs``/``abfss``/``az``, or any
            other fsspec protocol (which gets the caller's kwargs unchanged).
        data_config: the configuration; ``None`` means the defaults. This function reads no
            environment: pass ``DataConfig.auto()`` to use the config sources.
        anonymous: build options for unauthenticated access.
        **kwargs: options that override the configured ones.

    Returns:
        A new plain dict. S3 and Azure options carry ``generic.connect_timeout`` and
        ``generic.read_timeout`` in each client's own terms, so pandas and dask calls made
        with them are bounded too (GCS's need an object that is not plain JSON; see below).
    """
    config = data_config if data_config is not None else DataConfig()
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


def secret_values(data_config: DataConfig) -> list[str]:
    """Every secret value the config holds, for masking them out of error text."""
    values: list[str] = []
    for section in (data_config.s3, data_config.gcs, data_config.azure, data_config.generic):
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
    return values


def endpoint_host(protocol: str, data_config: DataConfig) -> str | None:
    """The ``host[:port]`` that requests for ``protocol`` go to, without credentials.

    Used to name the endpoint in error text; ``None`` for local and unknown protocols.
    """
    if protocol in S3_PROTOCOLS:
        s3 = data_config.s3
        if s3.endpoint:
            return _netloc(s3.endpoint)
        return f"s3.{s3.region}.amazonaws.com" if s3.region else "s3.amazonaws.com"
    if protocol in GCS_PROTOCOLS:
        return _netloc(data_config.gcs.endpoint) if data_config.gcs.endpoint else "storage.googleapis.com"
    if protocol in AZURE_PROTOCOLS:
        az = data_config.azure
        if az.account_host:
            return _netloc(az.account_host) if "://" in az.account_host else az.account_host
        if az.connection_string is not None:
            blob = _parse_connection_string(az.connection_string.get_secret_value()).get("BlobEndpoint")
            if blob:
                return _netloc(blob)
        account = az.account_name or "<account>"
        return f"{account}.blob.core.windows.net"
    return None


def _netloc(url: str) -> str:
    """``host[:port]`` of a URL, never its user-info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


OBSTORE_REQUEST_LIMIT = timedelta(hours=24)
"""obstore's overall limit per request: a backstop only, stalls end by ``read_timeout``."""

OBSTORE_PROTOCOLS = (*S3_PROTOCOLS, *AZURE_PROTOCOLS)
"""Protocols the obstore engine can serve."""


def choose_engine(
    protocol: str, data_config: DataConfig, anonymous: bool = False
) -> Literal["fsspec", "obstore"]:
    """The engine that moves bytes for ``protocol``: ``generic.engine``, with ``auto`` resolved.

    ``auto`` picks obstore for S3 and Azure when the config itself holds what authenticates
    (keys, a SAS, a connection string, a client secret) or the access is anonymous, and fsspec
    when credentials come from a provider chain (AWS profiles and SSO, Azure CLI login...),
    which only the Python SDKs know. On S3 it also wants an endpoint or a region, as only
    botocore follows AWS's redirects to a bucket's region. Other protocols always use fsspec.
    """
    engine = data_config.generic.engine
    if protocol not in OBSTORE_PROTOCOLS or engine == "fsspec":
        return "fsspec"
    if engine == "obstore":
        return "obstore"
    if protocol in S3_PROTOCOLS:
        s3 = data_config.s3
        keys = bool(s3.access_key_id) and s3.secret_access_key is not None
        # Without an endpoint or a region, the bucket may live in any AWS region: botocore
        # follows S3's region redirects, obstore does not.
        explicit = (anonymous or keys) and bool(s3.endpoint or s3.region)
    else:
        az = data_config.azure
        explicit = anonymous or any(
            v is not None for v in (az.account_key, az.sas_token, az.connection_string, az.client_secret)
        )
    return "obstore" if explicit else "fsspec"


def _parse_connection_string(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            fields[key.strip()] = value.strip()
    return fields


def obstore_setup_args(protocol: str, data_config: DataConfig, anonymous: bool = False) -> dict[str, Any]:
    """Keyword arguments for obstore's ``S3Store`` or ``AzureStore``, from the same models.

    The result holds ``config``, ``client_options`` and ``retry_config``, as the stores take them.

    Args:
        protocol: an S3 or Azure protocol.
        data_config: the configuration.
        anonymous: unsigned requests, for public data.

    Returns:
        A new plain dict; ``retry_config`` carries the configured S3 retries and backoff.

    Raises:
        ValueError: ``protocol`` is not one obstore serves here.
    """
    config: dict[str, Any] = {}
    client: dict[str, Any] = {}
    endpoint: str | None = None
    if protocol in S3_PROTOCOLS:
        s3 = data_config.s3
        endpoint = s3.endpoint
        if endpoint:
            config["endpoint"] = endpoint
        if s3.access_key_id:
            config["access_key_id"] = s3.access_key_id
        if s3.secret_access_key is not None:
            config["secret_access_key"] = s3.secret_access_key.get_secret_value()
        if s3.session_token is not None:
            config["session_token"] = s3.session_token.get_secret_value()
        config["region"] = s3.region or "us-east-1"
        style = s3.addressing_style
        config["virtual_hosted_style_request"] = style == "virtual" or (style == "auto" and not endpoint)
        if s3.upload_checksum and not anonymous:
            config["checksum_algorithm"] = "sha256"
    elif protocol in AZURE_PROTOCOLS:
        az = data_config.azure
        parsed = (
            _parse_connection_string(az.connection_string.get_secret_value()) if az.connection_string else {}
        )
        account = az.account_name or parsed.get("AccountName")
        if account:
            config["account_name"] = account
        key = az.account_key.get_secret_value() if az.account_key else parsed.get("AccountKey")
        if key:
            config["account_key"] = key
        sas = az.sas_token.get_secret_value() if az.sas_token else parsed.get("SharedAccessSignature")
        if sas:
            config["sas_key"] = sas.lstrip("?")
        for name in ("tenant_id", "client_id"):
            if getattr(az, name):
                config[name] = getattr(az, name)
        if az.client_secret is not None:
            config["client_secret"] = az.client_secret.get_secret_value()
        endpoint = parsed.get("BlobEndpoint")
        if az.account_host:
            host = az.account_host
            endpoint = host if "://" in host else f"https://{host}"
            parts = urlsplit(endpoint)
            if parts.scheme == "http" and parts.path in ("", "/") and account:
                endpoint = f"{endpoint.rstrip('/')}/{account}"
        if endpoint:
            config["endpoint"] = endpoint.rstrip("/")
    else:
        raise ValueError(f"obstore does not serve {protocol}:// here; use the fsspec engine")
    if anonymous:
        config["skip_signature"] = True
    if endpoint and endpoint.startswith("http://"):
        client["allow_http"] = True
    generic = data_config.generic
    client["connect_timeout"] = generic.connect_timeout
    # read_timeout resets with every read: it catches a stalled request without limiting a
    # long one. obstore's overall ``timeout`` (30 s unless set) would cut a healthy large
    # download or part upload, so it is set far beyond any single request persist makes.
    client["read_timeout"] = generic.read_timeout
    client["timeout"] = OBSTORE_REQUEST_LIMIT
    s3 = data_config.s3
    retry = {
        "max_retries": s3.retries,
        "backoff": {"init_backoff": s3.backoff, "max_backoff": timedelta(seconds=120), "base": 2},
    }
    return {"config": config, "client_options": client, "retry_config": retry}


OBSTORE_PART_SIZE = 8 * MiB
"""The obstore engine's upload part size when ``generic.write_chunk_size_bytes`` is not set."""


S3_MAX_PARTS = 10_000
"""Parts one S3 multipart upload may have."""
AZURE_MAX_BLOCKS = 50_000
"""Blocks one Azure block blob may have."""


def upload_part_size(size: int, preferred: int, max_parts: int) -> int:
    """The part size to upload ``size`` bytes with: ``preferred``, unless that needs too many parts.

    Past ``max_parts`` parts, the smallest whole number of MiB that needs no more: 525 MiB for
    S3's largest object (5 TiB in 10,000 parts), well under its 5 GiB limit per part.
    """
    if size <= preferred * max_parts:
        return preferred
    return -(-size // (max_parts * MiB)) * MiB


def obstore_part_size(data_config: DataConfig) -> int:
    """The part size the obstore engine uploads with.

    ``generic.write_chunk_size_bytes`` when a source set it (even to its default), else
    :data:`OBSTORE_PART_SIZE`. The field keeps flytekit's 25 MiB default for the fsspec engine;
    obstore uploads faster with smaller parts (benchmarks/README.md, "Decisions measured"). A
    file that would need too many parts of this size gets larger ones (:func:`upload_part_size`).
    """
    generic = data_config.generic
    if "write_chunk_size_bytes" in generic.model_fields_set:
        return generic.write_chunk_size_bytes
    return OBSTORE_PART_SIZE
