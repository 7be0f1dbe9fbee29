"""Properties of configs and their translation into fsspec options, over generated configs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from persist.config import SECRET_FIELDS, DataConfig
from persist.options import (
    AZURE_PROTOCOLS,
    FILE_PROTOCOLS,
    GCS_PROTOCOLS,
    S3_PROTOCOLS,
    get_fsspec_storage_options,
)
from tests.strategies import caller_kwargs, data_configs

ALL_PROTOCOLS = (*S3_PROTOCOLS, *GCS_PROTOCOLS, *AZURE_PROTOCOLS, *FILE_PROTOCOLS, "memory", "sftp")
"""Every protocol persist configures, plus two it passes through."""

protocols = st.sampled_from(ALL_PROTOCOLS)

SECRET_OPTION: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("s3", "secret_access_key"): (S3_PROTOCOLS, "secret"),
    ("s3", "session_token"): (S3_PROTOCOLS, "token"),
    ("azure", "account_key"): (AZURE_PROTOCOLS, "account_key"),
    ("azure", "client_secret"): (AZURE_PROTOCOLS, "client_secret"),
    ("azure", "connection_string"): (AZURE_PROTOCOLS, "connection_string"),
    ("azure", "sas_token"): (AZURE_PROTOCOLS, "sas_token"),
}
"""Each secret field, the protocols that use it, and the option that must carry its value."""


def walk(value: Any) -> list[Any]:
    """Every value nested anywhere in dicts, lists and tuples, the containers included."""
    found = [value]
    if isinstance(value, dict):
        for key, item in value.items():
            found += walk(key) + walk(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            found += walk(item)
    return found


def revealed_dump(config: DataConfig) -> dict[str, Any]:
    """The config as plain YAML-ready data, secrets written out in clear."""
    data = config.model_dump(mode="json")
    for section, name in SECRET_FIELDS:
        value = getattr(getattr(config, section), name)
        data[section][name] = None if value is None else value.get_secret_value()
    return data


def test_secret_option_table_covers_every_secret_field() -> None:
    """Every SecretStr field has a row saying where its value must appear."""
    assert set(SECRET_OPTION) == set(SECRET_FIELDS)


@given(config=data_configs, protocol=protocols, anonymous=st.booleans())
def test_options_never_hold_a_secret_object(config: DataConfig, protocol: str, anonymous: bool) -> None:
    """No SecretStr reaches fsspec, at any depth: backends need the plain value."""
    options = get_fsspec_storage_options(protocol, config, anonymous=anonymous)
    assert not any(isinstance(item, SecretStr) for item in walk(options))


@given(config=data_configs)
def test_options_never_drop_a_configured_credential(config: DataConfig) -> None:
    """Each configured secret's value reaches the options of its backend under its option name
    (an Azure account key may instead travel inside the generated connection string)."""
    for (section, name), (backend_protocols, option) in SECRET_OPTION.items():
        value = getattr(getattr(config, section), name)
        if value is None:
            continue
        for protocol in backend_protocols:
            options = get_fsspec_storage_options(protocol, config)
            plain = value.get_secret_value()
            in_connection_string = option == "account_key" and plain in options.get("connection_string", "")
            assert options.get(option) == plain or in_connection_string, (section, name, protocol)


@given(config=data_configs, protocol=protocols, anonymous=st.booleans(), kwargs=caller_kwargs)
def test_options_are_json_serialisable(
    config: DataConfig, protocol: str, anonymous: bool, kwargs: dict[str, Any]
) -> None:
    """Options are plain data (the CLI prints them as JSON and caches key on them)."""
    options = get_fsspec_storage_options(protocol, config, anonymous=anonymous, **kwargs)
    assert json.loads(json.dumps(options)) == options


@given(config=data_configs, protocol=protocols, anonymous=st.booleans(), kwargs=caller_kwargs)
def test_caller_kwargs_always_win(
    config: DataConfig, protocol: str, anonymous: bool, kwargs: dict[str, Any]
) -> None:
    """Every keyword argument the caller passes is in the result with the caller's value."""
    options = get_fsspec_storage_options(protocol, config, anonymous=anonymous, **kwargs)
    assert {key: options[key] for key in kwargs} == kwargs


@given(config=data_configs, protocol=protocols)
def test_options_do_not_depend_on_call_history(config: DataConfig, protocol: str) -> None:
    """The translation is pure: the same config gives equal options every time, as new dicts."""
    first = get_fsspec_storage_options(protocol, config)
    second = get_fsspec_storage_options(protocol, config)
    assert first == second
    assert first is not second


@given(config=data_configs)
def test_dump_and_validate_round_trip(config: DataConfig) -> None:
    """A config dumped to Python data and validated again is equal to the original."""
    assert DataConfig.model_validate(config.model_dump(mode="python")) == config


@given(config=data_configs)
def test_yaml_file_round_trip(config: DataConfig) -> None:
    """A config written to a YAML file (secrets in clear) and read with from_yaml is equal."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "persist.yaml")
        # Not allow_unicode: PyYAML then writes U+0085 raw in a quoted scalar and reads it back
        # as a line break; escaped output round-trips every character.
        path.write_text(yaml.safe_dump(revealed_dump(config)), encoding="utf-8")
        assert DataConfig.from_yaml(path) == config
