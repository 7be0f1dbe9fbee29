"""Hypothesis strategies for valid persist configs, secrets included."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st
from pydantic import SecretStr

from persist.config import AzureBlobStorageConfig, DataConfig, GCSConfig, GenericPersistenceConfig, S3Config

__all__ = [
    "azure_configs",
    "caller_kwargs",
    "data_configs",
    "gcs_configs",
    "generic_configs",
    "s3_configs",
    "secrets",
]

# Any text a user could put in a variable, file or YAML string: every character but lone
# surrogates, which no UTF-8 source can hold.
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_nonblank = _text.filter(lambda s: s.strip() != "")

secrets = _text.map(SecretStr)
"""SecretStr values, empty and unusual ones included."""

account_keys = st.binary(min_size=1, max_size=64).map(lambda b: SecretStr(base64.b64encode(b).decode()))
"""Azure account keys: base64, as the model requires."""

_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)
_ports = st.integers(min_value=1, max_value=65535)


@st.composite
def _urls(draw: st.DrawFn, path: bool = True) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(_hosts | st.just("127.0.0.1"))
    port = draw(st.none() | _ports)
    netloc = host if port is None else f"{host}:{port}"
    suffix = draw(st.sampled_from(["", "/", "/devstoreaccount1"])) if path else ""
    return f"{scheme}://{netloc}{suffix}"


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


s3_configs = st.builds(
    S3Config,
    endpoint=_optional(_urls()),
    access_key_id=_optional(_text),
    secret_access_key=_optional(secrets),
    addressing_style=st.sampled_from(["auto", "virtual", "path"]),
    retries=st.integers(min_value=0, max_value=50),
    backoff=st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=5)),
    enable_debug=st.booleans(),
    session_token=_optional(secrets),
    region=_optional(st.from_regex(r"[a-z]{2}-[a-z]+-[1-9]", fullmatch=True)),
)
"""Valid S3 sections, any combination of fields."""

gcs_configs = st.builds(
    GCSConfig,
    gsutil_parallelism=st.booleans(),
    project=_optional(_text),
    token=_optional(st.sampled_from(["anon", "google_default", "cloud"]) | _nonblank),
    endpoint=_optional(_urls(path=False)),
    requester_pays=st.booleans(),
)
"""Valid GCS sections."""


@st.composite
def azure_configs(draw: st.DrawFn) -> AzureBlobStorageConfig:
    """Valid Azure sections: a service principal is either complete or absent."""
    # An empty SecretStr is falsy, so the model would count an empty client secret as missing.
    principal = draw(st.none() | st.tuples(_text, _text, _text.filter(bool).map(SecretStr)))
    tenant_id, client_id, client_secret = principal or (None, None, None)
    if principal is not None and not (tenant_id and client_id):
        # The model requires all three parts to be non-empty when any is given.
        tenant_id, client_id = tenant_id or "tenant", client_id or "client"
    return AzureBlobStorageConfig(
        account_name=draw(_optional(st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True))),
        account_key=draw(_optional(account_keys)),
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=client_secret,
        connection_string=draw(_optional(secrets)),
        sas_token=draw(_optional(secrets)),
        account_host=draw(_optional(_hosts | _urls())),
    )


generic_configs = st.builds(
    GenericPersistenceConfig,
    attach_execution_metadata=st.booleans(),
    write_chunk_size_bytes=st.integers(min_value=5 * 1024 * 1024, max_value=2**40),
    max_concurrency=st.integers(min_value=1, max_value=1024),
)
"""Valid generic sections."""

data_configs = st.builds(
    DataConfig, s3=s3_configs, gcs=gcs_configs, azure=azure_configs(), generic=generic_configs
)
"""Valid whole configs."""

_RESERVED = {"protocol", "data_config", "anonymous", "path"}
_OPTION_NAMES = [
    "anon",
    "key",
    "secret",
    "token",
    "client_kwargs",
    "config_kwargs",
    "cache_regions",
    "project",
    "endpoint_url",
    "requester_pays",
    "account_name",
    "account_key",
    "connection_string",
    "sas_token",
    "account_host",
    "auto_mkdir",
]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)

caller_kwargs = st.dictionaries(
    st.sampled_from(_OPTION_NAMES) | st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True),
    _json_values,
    max_size=5,
).map(lambda kwargs: {k: v for k, v in kwargs.items() if k not in _RESERVED})
"""Keyword arguments a caller may pass to get_fsspec_storage_options, often clashing with options."""
