"""How a path is served: a pure function of the config and the protocol (no I/O, no environment).

``plan_for`` decides the engine (local disk, fsspec or obstore), the options of persist's own
filesystem or store, the retry budget, the part size and whether metadata is attached. The
provider asks it and translates nothing itself. With ``options.py`` this is the only module that
unwraps secrets.

Retry budgets, one per backend: S3 uses ``s3.retries`` / ``s3.backoff`` (``FLYTE_AWS_RETRIES``,
``FLYTE_AWS_BACKOFF_SECONDS``) and Azure ``azure.retries`` / ``azure.backoff``, on both engines;
the clients underneath (botocore and s3fs, the Azure SDK client of persist's adlfs, obstore)
make a single attempt per call, and a timed-out request counts as one attempt. GCS uses
``gcs.retries`` / ``gcs.backoff`` the same way: persist's gcsfs makes one attempt per call
(``_fs.GCS_SINGLE_ATTEMPT``). Local copies are not retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from persist.config import DataConfig, MiB
from persist.options import (
    AZURE_PROTOCOLS,
    FILE_PROTOCOLS,
    GCS_PROTOCOLS,
    S3_PROTOCOLS,
    gcs_setup_args,
    get_additional_fsspec_call_kwargs,
    get_fsspec_storage_options,
)

__all__ = [
    "AZURE_MAX_BLOCKS",
    "OBSTORE_PART_SIZE",
    "S3_MAX_PARTS",
    "EngineName",
    "Plan",
    "RetryBudget",
    "choose_engine",
    "endpoint_host",
    "obstore_part_size",
    "obstore_setup_args",
    "plan_for",
    "secret_values",
    "upload_part_size",
]

EngineName = Literal["local", "fsspec", "obstore"]

OBSTORE_PROTOCOLS = (*S3_PROTOCOLS, *AZURE_PROTOCOLS)
"""Protocols the obstore engine can serve."""

OBSTORE_REQUEST_LIMIT = timedelta(hours=24)
"""obstore's overall limit per request: a backstop only, stalls end by ``read_timeout``."""

AZURE_CLIENT_OPTIONS = "azure_client_options"
"""The ``fs_tune`` entry ``_fs.build_filesystem`` reads as azure-core options for persist's adlfs
client (the same name as ``_fs.AZURE_CLIENT_OPTIONS``, kept here so this module stays light)."""

GCS_SINGLE_ATTEMPT = "gcs_single_attempt"
"""A ``fs_tune`` entry: persist's gcsfs makes one attempt per call (``_fs.GCS_SINGLE_ATTEMPT``)."""

OBSTORE_PART_SIZE = 8 * MiB
"""The obstore engine's upload part size when ``generic.write_chunk_size_bytes`` is not set."""

S3_MAX_PARTS = 10_000
"""Parts one S3 multipart upload may have."""
AZURE_MAX_BLOCKS = 50_000
"""Blocks one Azure block blob may have."""


@dataclass(frozen=True)
class RetryBudget:
    """One backend's retry budget: retries after the first attempt, and the base backoff in seconds.

    Plain data: the transfer core turns it into a ``_fs.RetryPolicy`` (keeping this module, which
    the CLI imports for every command, free of the I/O machinery).
    """

    retries: int = 0
    backoff: float = 0.0


_NO_RETRIES = RetryBudget()
# botocore's and s3fs's own retries, off on persist's S3 filesystem: persist's loop is the one budget.
_ONE_ATTEMPT = {"total_max_attempts": 1, "mode": "standard"}


@dataclass(frozen=True)
class Plan:
    """Everything persist needs to serve one protocol with one config.

    Attributes:
        protocol: the path's protocol (``s3``, ``abfs``, ``gs``, ``file``...).
        engine: which backend moves the bytes.
        anonymous: requests go unsigned (public data).
        fs_options: storage options of persist's own fsspec filesystem for the protocol (also
            used by the obstore engine to abort S3 multipart uploads).
        fs_tune: attributes set on that filesystem instance (kept out of fsspec's cache).
        store_args: obstore store arguments (obstore engine only).
        retry: the one retry budget for the protocol.
        part_size: the obstore engine's preferred upload part size.
        put_kwargs: per-call kwargs of the fsspec engine's uploads.
        attach_metadata: execution metadata goes onto uploaded objects.
        concurrency: files in flight at once in a folder transfer.
        anonymous_fallback: a refused download or lookup is retried unsigned (public data).
        debug_loggers: loggers to set to DEBUG (``s3.enable_debug``).
    """

    protocol: str
    engine: EngineName
    anonymous: bool = False
    fs_options: dict[str, Any] = field(default_factory=dict)
    fs_tune: dict[str, Any] = field(default_factory=dict)
    store_args: dict[str, Any] = field(default_factory=dict)
    retry: RetryBudget = _NO_RETRIES
    part_size: int = OBSTORE_PART_SIZE
    put_kwargs: dict[str, Any] = field(default_factory=dict)
    attach_metadata: bool = True
    concurrency: int = 16
    anonymous_fallback: bool = False
    debug_loggers: tuple[str, ...] = ()


def plan_for(
    data_config: DataConfig,
    protocol: str,
    anonymous: bool = False,
    put_kwargs: dict[str, Any] | None = None,
) -> Plan:
    """How persist serves ``protocol`` under ``data_config``.

    Args:
        data_config: the configuration.
        protocol: the path's protocol (``None`` and ``""`` are not protocols: pass ``file``).
        anonymous: plan unsigned access, for public data.
        put_kwargs: the caller's s3fs/adlfs/gcsfs put arguments; only the fsspec engine
            understands them, so with any the plan uses it.

    Returns:
        A frozen Plan; the same arguments always give an equal one.
    """
    generic = data_config.generic
    common: dict[str, Any] = {
        "protocol": protocol,
        "anonymous": anonymous,
        "attach_metadata": generic.attach_execution_metadata,
        "concurrency": generic.max_concurrency,
    }
    if protocol in FILE_PROTOCOLS:
        return Plan(engine="local", **common)
    options = get_fsspec_storage_options(protocol, data_config, anonymous=anonymous)
    tune: dict[str, Any] = {}
    retry = _NO_RETRIES
    debug: tuple[str, ...] = ()
    if protocol in S3_PROTOCOLS:
        options["config_kwargs"] = {**options.get("config_kwargs", {}), "retries": dict(_ONE_ATTEMPT)}
        tune["retries"] = 1
        retry = RetryBudget(retries=data_config.s3.retries, backoff=data_config.s3.backoff.total_seconds())
        if data_config.s3.enable_debug:
            debug = ("s3fs", "botocore", "aiobotocore")
    elif protocol in GCS_PROTOCOLS:
        # The limits are an aiohttp object, so only persist's own gcsfs gets them (the public
        # options stay plain JSON).
        options = {**gcs_setup_args(data_config.gcs, anonymous=anonymous, timeouts=generic), **options}
        gcs = data_config.gcs
        retry = RetryBudget(retries=gcs.retries, backoff=gcs.backoff.total_seconds())
        # persist's gcsfs makes one attempt per call (see _fs.GCS_SINGLE_ATTEMPT): gcs.retries
        # governs, and a stalled endpoint costs one read timeout per attempt, not gcsfs's ~70.
        tune[GCS_SINGLE_ATTEMPT] = True
    elif protocol in AZURE_PROTOCOLS:
        azure = data_config.azure
        retry = RetryBudget(retries=azure.retries, backoff=azure.backoff.total_seconds())
        # persist's adlfs gets a blob client with persist's limits on every request and a
        # single attempt (see _fs.AZURE_CLIENT_OPTIONS): azure.retries governs both engines.
        tune[AZURE_CLIENT_OPTIONS] = {
            "connection_timeout": generic.connect_timeout.total_seconds(),
            "read_timeout": generic.read_timeout.total_seconds(),
            "retry_total": 0,
        }
    common.update(fs_options=options, fs_tune=tune, anonymous_fallback=True, debug_loggers=debug)
    if not put_kwargs and choose_engine(protocol, data_config, anonymous) == "obstore":
        store_args = obstore_setup_args(protocol, data_config, anonymous=anonymous)
        store_args["retry_config"] = {**store_args["retry_config"], "max_retries": 0}
        return Plan(
            engine="obstore",
            store_args=store_args,
            retry=retry,
            part_size=obstore_part_size(data_config),
            **common,
        )
    call_kwargs = get_additional_fsspec_call_kwargs(protocol, "put", data_config)
    if protocol in GCS_PROTOCOLS and "write_chunk_size_bytes" not in generic.model_fields_set:
        # Unset, a GCS upload of 5 MiB or more goes in one streamed request (_gcs.streamed_upload),
        # which needs no chunk size; a chunk size set in any source keeps gcsfs's chunked uploads.
        call_kwargs.pop("chunksize", None)
    return Plan(engine="fsspec", retry=retry, put_kwargs={**call_kwargs, **(put_kwargs or {})}, **common)


def enable_debug_logging(plan: Plan) -> None:
    """Set the plan's debug loggers to DEBUG (the one side effect of a plan, kept out of it)."""
    for name in plan.debug_loggers:
        logging.getLogger(name).setLevel(logging.DEBUG)


def secret_values(data_config: DataConfig) -> list[str]:
    """Every secret value the config holds, every store's included, for masking them out of text."""
    values: list[str] = []
    sections: list[Any] = [data_config.s3, data_config.gcs, data_config.azure, data_config.generic]
    for store in data_config.stores.values():
        sections.extend(section for section in (store.s3, store.gcs, store.azure) if section is not None)
    for section in sections:
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
    return values


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
        A new plain dict; ``retry_config`` carries the backend's configured retries and backoff
        (``s3.*`` for S3, ``azure.*`` for Azure).

    Raises:
        ValueError: ``protocol`` is not one obstore serves here.
    """
    config: dict[str, Any] = {}
    client: dict[str, Any] = {}
    endpoint: str | None = None
    if protocol in S3_PROTOCOLS:
        s3 = data_config.s3
        retries, backoff = s3.retries, s3.backoff
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
        if s3.requester_pays:
            config["request_payer"] = True
        if s3.upload_checksum and not anonymous:
            config["checksum_algorithm"] = "sha256"
    elif protocol in AZURE_PROTOCOLS:
        az = data_config.azure
        retries, backoff = az.retries, az.backoff
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
    retry = {
        "max_retries": retries,
        "backoff": {"init_backoff": backoff, "max_backoff": timedelta(seconds=120), "base": 2},
    }
    return {"config": config, "client_options": client, "retry_config": retry}


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
