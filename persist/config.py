"""Typed storage configuration: the models and how they are loaded from every source."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Sequence
from datetime import timedelta
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from persist.errors import PersistDeprecationWarning

if TYPE_CHECKING:
    from persist._sources import ExtraSource

__all__ = [
    "AddressingStyle",
    "AzureBlobStorageConfig",
    "DataConfig",
    "Engine",
    "GCSConfig",
    "GenericPersistenceConfig",
    "S3Config",
    "StoreConfig",
]

AddressingStyle: TypeAlias = Literal["auto", "virtual", "path"]
"""How the bucket name goes into S3 request URLs (botocore's ``addressing_style``)."""

Engine: TypeAlias = Literal["auto", "fsspec", "obstore"]
"""Which library moves the bytes: obstore (Rust, faster) or fsspec (s3fs, adlfs, gcsfs)."""

MiB = 1024 * 1024

_MODEL_CONFIG = ConfigDict(
    extra="forbid",
    frozen=True,
    hide_input_in_errors=True,
    validate_default=True,
    # Build validators on first use, not at import: `import persist` stays fast.
    defer_build=True,
)


def _seconds(value: Any) -> Any:
    """Read a number of seconds written as a string ("5", "2.5"), as env vars carry them."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _nonnegative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


MAX_BACKOFF = timedelta(minutes=5)
"""Upper bound of ``s3.backoff``: the base delay doubles each retry, so more only stalls jobs."""


def _bounded_backoff(value: timedelta) -> timedelta:
    value = _nonnegative(value)
    if value > MAX_BACKOFF:
        raise ValueError(
            f"must be at most {MAX_BACKOFF.total_seconds():.0f} seconds (PT5M); the delay doubles each retry"
        )
    return value


def _lower(value: Any) -> Any:
    """Enumerations are case-insensitive (``Path`` is ``path``), as botocore's are."""
    return value.strip().lower() if isinstance(value, str) else value


def _base64_key(value: SecretStr | None) -> SecretStr | None:
    """An Azure account key is base64 (the portal's "Access keys"); say so before any request.

    The value is never echoed: it is a secret.
    """
    from persist.options import is_base64_secret  # options.py is the one place secrets are unwrapped

    if value is not None and not is_base64_secret(value):
        raise ValueError(
            "must be the storage account's base64 access key (Azure portal, Access keys); "
            "for a shared access signature use sas_token"
        )
    return value


MAX_TIMEOUT = timedelta(hours=1)
"""The largest connect or read timeout persist accepts."""


def _timeout(value: timedelta) -> timedelta:
    if value <= timedelta(0) or value > MAX_TIMEOUT:
        raise ValueError("must be more than 0 and at most 3600 seconds")
    return value


Seconds = Annotated[
    timedelta,
    BeforeValidator(_seconds),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "format": "duration"},
            ]
        }
    ),
]
"""A duration given as seconds (``5``, ``"2.5"``) or ISO 8601 (``"PT5S"``)."""


def _check_http_url(value: str | None, credentials_go: str) -> str | None:
    """Accept only http(s) URLs with a host and no user-info; the bad value is not echoed.

    Credentials in the URL (``http://user:password@host``) are refused rather than masked:
    every place that prints an endpoint (show, options, error text, logs) would otherwise
    have to know which part of it is a secret. ``credentials_go`` says where they belong.
    """
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. https://host:9000")
    if "@" in parts.netloc:
        raise ValueError(f"must not hold credentials (user:password@host); {credentials_go}")
    return value


_S3_CREDENTIALS = "set s3.access_key_id and s3.secret_access_key instead"
_GCS_CREDENTIALS = "set gcs.token to a service-account JSON file instead"
_AZURE_CREDENTIALS = "set azure.account_key, azure.sas_token or azure.connection_string instead"


def _add_deprecated_alias(schema: JsonDict) -> None:
    """Document the misspelt ``adressing_style`` next to the other S3 keys.

    A callable, because a ``json_schema_extra`` dict would replace the generated ``properties``.
    """
    properties = schema.setdefault("properties", {})
    assert isinstance(properties, dict)  # noqa: S101 - pydantic always builds a dict here
    properties["adressing_style"] = {
        "deprecated": True,
        "description": "Deprecated misspelling of addressing_style.",
        "enum": ["auto", "virtual", "path"],
    }


class S3Config(BaseModel):
    """S3 and S3-compatible stores (AWS, MinIO, moto, Ceph...)."""

    model_config = ConfigDict(**_MODEL_CONFIG, json_schema_extra=_add_deprecated_alias)

    endpoint: str | None = None
    """URL of the S3 API, for S3-compatible stores; unset means AWS.
    Env: PERSIST_S3__ENDPOINT, FLYTE_AWS_ENDPOINT."""

    access_key_id: str | None = None
    """Access key id; unset means botocore's default credential chain.
    Env: PERSIST_S3__ACCESS_KEY_ID, FLYTE_AWS_ACCESS_KEY_ID."""

    secret_access_key: SecretStr | None = None
    """Secret access key (secret).
    Env: PERSIST_S3__SECRET_ACCESS_KEY, FLYTE_AWS_SECRET_ACCESS_KEY."""

    addressing_style: Annotated[AddressingStyle, BeforeValidator(_lower)] = "auto"
    """How the bucket goes into request URLs: auto, virtual or path (path for most local stores).
    Env: PERSIST_S3__ADDRESSING_STYLE, FLYTE_AWS_ADDRESSING_STYLE."""

    retries: int = Field(default=3, ge=0)
    """Retries after the first attempt for throttling and connection resets of S3 requests
    (2 means at most 3 attempts). Env: PERSIST_S3__RETRIES, FLYTE_AWS_RETRIES."""

    backoff: Annotated[Seconds, AfterValidator(_bounded_backoff)] = timedelta(seconds=5)
    """Base delay between retries, doubled each retry, with jitter; seconds or ISO 8601, at
    most 300 s.
    Env: PERSIST_S3__BACKOFF, FLYTE_AWS_BACKOFF_SECONDS."""

    enable_debug: bool = False
    """Log the S3 client's requests at DEBUG level.
    Env: PERSIST_S3__ENABLE_DEBUG, FLYTE_AWS_ENABLE_DEBUG."""

    session_token: SecretStr | None = None
    """Session token of temporary credentials (secret). Env: PERSIST_S3__SESSION_TOKEN."""

    region: str | None = None
    """Region name, e.g. us-east-1; unset lets botocore find it. Env: PERSIST_S3__REGION."""

    upload_checksum: bool = True
    """Send a SHA-256 checksum with every upload through the obstore engine, so the store
    verifies the bytes it keeps; turn off for S3-compatible stores that refuse
    x-amz-checksum headers. Env: PERSIST_S3__UPLOAD_CHECKSUM."""

    requester_pays: bool = False
    """Bill requests to this account, for requester-pays buckets (the request carries
    x-amz-request-payer). Env: PERSIST_S3__REQUESTER_PAYS."""

    _check_endpoint = field_validator("endpoint")(
        classmethod(lambda cls, v: _check_http_url(v, _S3_CREDENTIALS))
    )

    @model_validator(mode="before")
    @classmethod
    def _deprecated_alias(cls, data: Any) -> Any:
        """Accept flytekit's misspelt ``adressing_style``, with a deprecation warning."""
        if isinstance(data, dict) and "adressing_style" in data:
            data = dict(data)
            old = data.pop("adressing_style")
            if "addressing_style" in data and data["addressing_style"] != old:
                raise ValueError("adressing_style and addressing_style disagree; keep addressing_style")
            warnings.warn(
                "s3.adressing_style is deprecated; spell it addressing_style",
                PersistDeprecationWarning,
                stacklevel=2,
            )
            data.setdefault("addressing_style", old)
        return data

    @property
    def adressing_style(self) -> AddressingStyle:
        """Deprecated spelling of ``addressing_style``, kept for flytekit code."""
        return self.addressing_style


class GCSConfig(BaseModel):
    """Google Cloud Storage."""

    model_config = _MODEL_CONFIG

    gsutil_parallelism: bool = False
    """Kept for flytekit configs; persist always transfers folders in parallel.
    Env: PERSIST_GCS__GSUTIL_PARALLELISM, FLYTE_GCP_GSUTIL_PARALLELISM."""

    project: str | None = None
    """Project that owns or is billed for the buckets. Env: PERSIST_GCS__PROJECT."""

    token: str | None = None
    """Credentials: a path to a service-account JSON file, or anon, google_default or cloud;
    unset means gcsfs's default lookup. Env: PERSIST_GCS__TOKEN."""

    endpoint: str | None = None
    """URL of a GCS-compatible API, for emulators such as fake-gcs-server.
    Env: PERSIST_GCS__ENDPOINT."""

    requester_pays: bool = False
    """Bill requests to ``project`` for requester-pays buckets. Env: PERSIST_GCS__REQUESTER_PAYS."""

    retries: int = Field(default=3, ge=0)
    """Retries after the first attempt for throttling, connection resets and timeouts of GCS
    requests (2 means at most 3 attempts); persist's gcsfs makes one attempt per call instead
    of gcsfs's own six. Env: PERSIST_GCS__RETRIES."""

    backoff: Annotated[Seconds, AfterValidator(_bounded_backoff)] = timedelta(seconds=5)
    """Base delay between GCS retries, doubled each retry, with jitter; seconds or ISO 8601,
    at most 300 s. Env: PERSIST_GCS__BACKOFF."""

    _check_endpoint = field_validator("endpoint")(
        classmethod(lambda cls, v: _check_http_url(v, _GCS_CREDENTIALS))
    )

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be a service-account JSON path, or anon, google_default or cloud")
        return value


class AzureBlobStorageConfig(BaseModel):
    """Azure Blob Storage and ADLS Gen2."""

    model_config = _MODEL_CONFIG

    account_name: str | None = None
    """Storage account name.
    Env: PERSIST_AZURE__ACCOUNT_NAME, FLYTE_AZURE_STORAGE_ACCOUNT_NAME."""

    account_key: Annotated[SecretStr | None, AfterValidator(_base64_key)] = None
    """Storage account key, base64 as the portal shows it (secret).
    Env: PERSIST_AZURE__ACCOUNT_KEY, FLYTE_AZURE_STORAGE_ACCOUNT_KEY."""

    tenant_id: str | None = None
    """Tenant of the service principal. Env: PERSIST_AZURE__TENANT_ID, FLYTE_AZURE_TENANT_ID."""

    client_id: str | None = None
    """Client (application) id of the service principal.
    Env: PERSIST_AZURE__CLIENT_ID, FLYTE_AZURE_CLIENT_ID."""

    client_secret: SecretStr | None = None
    """Client secret of the service principal (secret).
    Env: PERSIST_AZURE__CLIENT_SECRET, FLYTE_AZURE_CLIENT_SECRET."""

    connection_string: SecretStr | None = None
    """Full connection string; it carries its own endpoint and key (secret).
    Env: PERSIST_AZURE__CONNECTION_STRING."""

    sas_token: SecretStr | None = None
    """Shared access signature, with or without the leading '?' (secret).
    Env: PERSIST_AZURE__SAS_TOKEN."""

    account_host: str | None = None
    """Blob host name (https assumed), or a full http(s)://host:port[/account] URL for emulators
    and sovereign clouds. Env: PERSIST_AZURE__ACCOUNT_HOST."""

    retries: int = Field(default=3, ge=0)
    """Retries after the first attempt for throttling, connection resets and timeouts of Azure
    requests, on both engines (2 means at most 3 attempts); the Azure clients underneath make
    one attempt per call. Env: PERSIST_AZURE__RETRIES."""

    backoff: Annotated[Seconds, AfterValidator(_bounded_backoff)] = timedelta(seconds=5)
    """Base delay between Azure retries, doubled each retry, with jitter; seconds or ISO 8601,
    at most 300 s. Env: PERSIST_AZURE__BACKOFF."""

    @field_validator("account_host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value:
            return _check_http_url(value, _AZURE_CREDENTIALS)
        if "@" in value:
            raise ValueError(f"must not hold credentials (user:password@host); {_AZURE_CREDENTIALS}")
        if not value or "/" in value or " " in value:
            raise ValueError(
                "must be a host name such as myaccount.blob.core.windows.net, "
                "or an http(s)://host:port[/account] URL"
            )
        return value

    @model_validator(mode="after")
    def _check_service_principal(self) -> AzureBlobStorageConfig:
        """A service principal is tenant_id and client_id together, plus client_secret if any.

        tenant_id and client_id without a secret are allowed: workload identity uses them
        alone. One of tenant_id / client_id without the other names no identity at all.
        """
        given = [name for name in ("tenant_id", "client_id", "client_secret") if getattr(self, name)]
        if given and ("tenant_id" not in given or "client_id" not in given):
            missing = [name for name in ("tenant_id", "client_id") if name not in given]
            raise ValueError(
                "a service principal needs tenant_id and client_id (and client_secret unless "
                f"workload identity supplies it); {' and '.join(given)} given, "
                f"missing {' and '.join(missing)}"
            )
        return self


class GenericPersistenceConfig(BaseModel):
    """Settings that apply to every backend."""

    model_config = _MODEL_CONFIG

    attach_execution_metadata: bool = True
    """Store the provider's execution metadata as user metadata on uploaded objects.
    Env: PERSIST_GENERIC__ATTACH_EXECUTION_METADATA, FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA."""

    write_chunk_size_bytes: int = Field(default=25 * MiB, ge=5 * MiB)
    """Part size of multipart uploads to S3 and GCS (and Azure, with the obstore engine), in bytes
    (S3 needs at least 5 MiB). Unset, the obstore engine uses 8 MiB parts, measured faster, and
    a GCS upload of 5 MiB or more goes in one streamed request.
    Env: PERSIST_GENERIC__WRITE_CHUNK_SIZE_BYTES, _F_P_WRITE_CHUNK_SIZE."""

    max_concurrency: int = Field(default=16, ge=1, le=1024)
    """Files in flight at once in a folder transfer; bounds memory and open connections.
    Env: PERSIST_GENERIC__MAX_CONCURRENCY."""

    connect_timeout: Annotated[Seconds, AfterValidator(_timeout)] = timedelta(seconds=10)
    """Seconds to wait for a connection to the endpoint, per request; a timeout counts as one
    attempt of the backend's retry budget. Env: PERSIST_GENERIC__CONNECT_TIMEOUT."""

    read_timeout: Annotated[Seconds, AfterValidator(_timeout)] = timedelta(seconds=60)
    """Seconds a request may go without progress (no answer, or no bytes of a body) before it
    is abandoned; a long transfer that keeps moving is never cut. A timeout counts as one attempt
    of the backend's retry budget. Env: PERSIST_GENERIC__READ_TIMEOUT."""

    engine: Annotated[Engine, BeforeValidator(_lower)] = "auto"
    """Transfer engine for S3 and Azure: obstore, fsspec, or auto (obstore when the config
    names the credentials itself, and for S3 an endpoint or region too; fsspec when they come
    from a provider chain such as AWS profiles; GCS and local paths always use fsspec).
    Env: PERSIST_GENERIC__ENGINE."""


STORE_SCHEMES: dict[str, str] = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "abfs": "azure",
    "abfss": "azure",
    "az": "azure",
}
"""URL schemes a store prefix may have, and the backend section each one takes."""

_STORE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def _at(field: str, message: str) -> str:
    """A validator message about ``field`` below the model that raises it (``prefixes: ...``).

    pydantic places a model validator's error on the model itself; the loader moves it onto the
    named field (``stores.public.prefixes``), so errors and provenance name the exact key.
    """
    return f"{field}{AT_SEP}{message}"


AT_SEP = " :: "
"""Separates the field from the message in :func:`_at` (the loader splits on it)."""


def _check_prefix(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    allowed = ", ".join(f"{s}://" for s in STORE_SCHEMES)
    if not sep or not scheme:
        raise ValueError(
            f"{value!r} has no scheme; write it as a URL such as s3://{value.lstrip('/')} ({allowed})"
        )
    if scheme.lower() not in STORE_SCHEMES:
        raise ValueError(
            f"{value!r}: {scheme}:// is not a remote store persist configures; use one of {allowed}"
        )
    if not rest.strip("/"):
        raise ValueError(
            f"{value!r} names no bucket; a store serves a bucket or a prefix, e.g. {scheme}://bucket/"
        )
    return value


class StoreConfig(BaseModel):
    """One named store: the URL prefixes it serves, its backend's section and its mode.

    A store takes nothing from the top-level ``s3``/``gcs``/``azure`` sections: what its own
    section leaves unset has the model's default. It shares only ``generic`` (metadata,
    concurrency, part size, engine) with the rest of the config.

    **Usage**: ``StoreConfig(prefixes=["s3://public-data/"], anonymous=True, s3={"region": "us-east-1"})``
    """

    model_config = _MODEL_CONFIG

    prefixes: tuple[Annotated[str, AfterValidator(_check_prefix)], ...]
    """URL prefixes the store serves (s3://bucket/, s3://team-a-, gs://bucket/path/,
    abfs://container/); all of one backend. The longest matching prefix wins, compared
    segment by segment; a prefix not ending in / also matches longer names in its last segment."""

    anonymous: bool = False
    """Never send credentials: unsigned requests only, for public data (no fallback dance)."""

    s3: S3Config | None = None
    """The store's S3 settings, for s3:// prefixes."""

    gcs: GCSConfig | None = None
    """The store's GCS settings, for gs:// prefixes."""

    azure: AzureBlobStorageConfig | None = None
    """The store's Azure settings, for abfs:// prefixes."""

    @field_validator("prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: Any) -> Any:
        """One prefix or a comma-separated list in a string, as a variable or secret file holds it."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                try:
                    return json.loads(text)
                except ValueError:
                    return value
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def backend(self) -> str:
        """The backend section its prefixes take: ``s3``, ``gcs`` or ``azure``."""
        return STORE_SCHEMES[self.prefixes[0].partition("://")[0].lower()]

    @model_validator(mode="after")
    def _check_backend(self) -> StoreConfig:
        """At least one prefix, all of one backend; no section of another backend."""
        if not self.prefixes:
            raise ValueError(_at("prefixes", "give at least one URL prefix, such as s3://bucket/"))
        backends = {STORE_SCHEMES[p.partition("://")[0].lower()] for p in self.prefixes}
        if len(backends) > 1:
            raise ValueError(
                _at(
                    "prefixes",
                    "mixes backends (" + ", ".join(sorted(backends)) + "); use one store per backend",
                )
            )
        backend = self.backend
        for section in ("s3", "gcs", "azure"):
            if section != backend and getattr(self, section) is not None:
                raise ValueError(
                    _at(
                        section,
                        f"does not fit this store's {self.prefixes[0].partition('://')[0]}:// prefixes; "
                        f"its settings go in {'a' if backend == 'gcs' else 'an'} {backend} section",
                    )
                )
        return self

    def section(self) -> BaseModel:
        """The store's backend section (the model's defaults when it gave none)."""
        value = getattr(self, self.backend)
        return value if value is not None else SECTIONS[self.backend]()


SECTIONS: dict[str, type[BaseModel]] = {
    "s3": S3Config,
    "gcs": GCSConfig,
    "azure": AzureBlobStorageConfig,
    "generic": GenericPersistenceConfig,
}
"""The sections of a DataConfig, by the key used in files and ``PERSIST_<SECTION>__`` names."""


def _is_secret(annotation: Any) -> bool:
    """Whether a field's type is SecretStr, alone or in a union (``SecretStr | None``)."""
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


SECRET_FIELDS: frozenset[tuple[str, str]] = frozenset(
    (section, name)
    for section, model in SECTIONS.items()
    for name, info in model.model_fields.items()
    if _is_secret(info.annotation)
)
"""(section, field) pairs whose values are secrets."""


class DataConfig(BaseModel):
    """Everything persist needs to reach storage, one section per backend.

    ``DataConfig()`` holds the defaults and reads nothing. ``DataConfig.auto()`` reads every
    source, highest priority first: keyword arguments, ``PERSIST_<SECTION>__<FIELD>`` variables,
    flytekit's ``FLYTE_*`` variables, the YAML file (``config_file``, else ``PERSIST_CONFIG``, else
    ``FLYTECTL_CONFIG``), the directory named by ``PERSIST_SECRETS_DIR``, the AWS Secrets
    Manager secret named by ``PERSIST_AWS_SECRET_ID``, then the defaults.

    Named ``stores`` serve the URLs under their prefixes with their own section (and only the
    top-level ``generic``); every other URL uses the top-level sections.

    **Usage**: ``DataConfig.auto("storage.yaml").s3.endpoint``
    """

    model_config = _MODEL_CONFIG

    s3: S3Config = Field(default_factory=S3Config)
    """S3 and S3-compatible stores."""

    gcs: GCSConfig = Field(default_factory=GCSConfig)
    """Google Cloud Storage."""

    azure: AzureBlobStorageConfig = Field(default_factory=AzureBlobStorageConfig)
    """Azure Blob Storage and ADLS Gen2."""

    generic: GenericPersistenceConfig = Field(default_factory=GenericPersistenceConfig)
    """Settings for every backend."""

    stores: dict[str, StoreConfig] = Field(default_factory=dict)
    """Named stores, each serving the URLs under its prefixes with its own settings; any
    other URL uses the sections above."""

    def __hash__(self) -> int:
        # pydantic's frozen hash would hash the stores dict, which is not hashable.
        stores = tuple(sorted(self.stores.items()))
        return hash((self.s3, self.gcs, self.azure, self.generic, stores))

    @field_validator("stores")
    @classmethod
    def _check_stores(cls, stores: dict[str, StoreConfig]) -> dict[str, StoreConfig]:
        """Store names fit a variable name; no prefix is claimed twice."""
        from persist._stores import normalize_prefix

        claimed: dict[str, str] = {}
        for name, store in stores.items():
            if not _STORE_NAME.fullmatch(name):
                raise ValueError(
                    _at(
                        name,
                        "a store name is lower-case letters, digits, _ and -, starting with a letter "
                        "(it is also the NAME of PERSIST_STORES__NAME__... variables)",
                    )
                )
            for prefix in store.prefixes:
                key = normalize_prefix(prefix)
                if key in claimed:
                    raise ValueError(
                        _at(f"{name}.prefixes", f"{prefix!r} is also claimed by store {claimed[key]!r}")
                    )
                claimed[key] = name
        return stores

    @classmethod
    def auto(
        cls,
        config_file: str | PathLike[str] | None = None,
        *,
        extra_sources: Sequence[ExtraSource] = (),
        **overrides: Any,
    ) -> DataConfig:
        """Load the configuration from every source, in the documented order.

        Args:
            config_file: YAML file to read; ``None`` reads ``PERSIST_CONFIG`` if it is set,
                else ``FLYTECTL_CONFIG``; an empty variable counts as unset.
            extra_sources: further pydantic-settings sources (your Vault, your secret manager):
                each a source instance, a callable building one from the settings class, or a
                ``(slot, source)`` pair placing it just above the built-in source named by
                ``slot`` (``"env"``, ``"flyte_env"``, ``"yaml"``, ``"secrets_dir"``,
                ``"aws_secrets"`` or ``"defaults"``). Without a slot it goes above ``"yaml"``:
                below the variables, above the file. ``persist show`` names it by its repr.
            **overrides: sections given in code (``s3=S3Config(...)`` or ``s3={"retries": 5}``);
                they win over every other source, field by field.

        Returns:
            The validated configuration.

        Raises:
            ConfigError: a source holds a value that is not allowed; the text names the source
                (file path or variable), the dotted field and what is allowed.
        """
        # Imported on first load: the sources import pydantic-settings, which `import persist`
        # does not pay for. They receive this class, so they never import this module.
        from persist._sources import default_sources, load

        return load(cls, default_sources(cls, config_file, overrides, extra_sources))[0]

    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> DataConfig:
        """Load one YAML file (native or flytekit layout) on top of the defaults, nothing else.

        Raises:
            ConfigError: the file is missing, malformed or holds a value that is not allowed.
        """
        from persist._sources import file_sources, load

        return load(cls, file_sources(cls, path))[0]


def _attach_field_docs(*models: type[BaseModel]) -> None:
    """Make each field's docstring (the string under it in this file) its description.

    pydantic's ``use_attribute_docstrings`` does the same but re-parses this module once per
    class while importing; one parse here costs a few milliseconds instead of about 80. The
    validators are built on first use (``defer_build``), so they see the descriptions.
    Without the source file, fields simply have no descriptions, as with pydantic's option.
    """
    import ast

    try:
        tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return  # installed without its source (a zip or .pyc-only build): no descriptions
    wanted = {model.__name__: model for model in models}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name not in wanted:
            continue
        model = wanted[node.name]
        for field_node, doc in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(field_node, ast.AnnAssign)
                and isinstance(field_node.target, ast.Name)
                and field_node.target.id in model.model_fields
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                info = model.model_fields[field_node.target.id]
                if info.description is None:
                    info.description = inspect.cleandoc(doc.value.value)


_attach_field_docs(
    S3Config, GCSConfig, AzureBlobStorageConfig, GenericPersistenceConfig, StoreConfig, DataConfig
)
