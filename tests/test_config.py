"""Config models and their sources: defaults, precedence, layouts, validation and error text."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from persist._sources import (
    CONFIG_ENV,
    LEGACY_ENV,
    SECRETS_DIR_ENV,
    Origin,
    default_sources,
    env_name,
    load,
)
from persist.config import (
    SECRET_FIELDS,
    SECTIONS,
    AzureBlobStorageConfig,
    DataConfig,
    GCSConfig,
    GenericPersistenceConfig,
    S3Config,
)
from persist.errors import ConfigError, PersistDeprecationWarning, PersistError

MiB = 1024 * 1024
INTEGER_ERROR = "Input should be a valid integer, unable to parse string as an integer"


def write_yaml(tmp_path: Path, text: str, name: str = "persist.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def value_of(config: DataConfig, section: str, name: str) -> Any:
    value = getattr(getattr(config, section), name)
    return secret(value) if isinstance(value, SecretStr) else value


# --------------------------------------------------------------------------------------------
# Defaults

DEFAULTS: dict[tuple[str, str], Any] = {
    ("s3", "endpoint"): None,
    ("s3", "access_key_id"): None,
    ("s3", "secret_access_key"): None,
    ("s3", "addressing_style"): "auto",
    ("s3", "retries"): 3,
    ("s3", "backoff"): timedelta(seconds=5),
    ("s3", "enable_debug"): False,
    ("s3", "session_token"): None,
    ("s3", "region"): None,
    ("s3", "upload_checksum"): True,
    ("s3", "requester_pays"): False,
    ("gcs", "gsutil_parallelism"): False,
    ("gcs", "project"): None,
    ("gcs", "token"): None,
    ("gcs", "endpoint"): None,
    ("gcs", "requester_pays"): False,
    ("gcs", "retries"): 3,
    ("gcs", "backoff"): timedelta(seconds=5),
    ("azure", "account_name"): None,
    ("azure", "account_key"): None,
    ("azure", "tenant_id"): None,
    ("azure", "client_id"): None,
    ("azure", "client_secret"): None,
    ("azure", "connection_string"): None,
    ("azure", "sas_token"): None,
    ("azure", "account_host"): None,
    ("azure", "retries"): 3,
    ("azure", "backoff"): timedelta(seconds=5),
    ("generic", "attach_execution_metadata"): True,
    ("generic", "write_chunk_size_bytes"): 25 * MiB,
    ("generic", "max_concurrency"): 16,
    ("generic", "connect_timeout"): timedelta(seconds=10),
    ("generic", "read_timeout"): timedelta(seconds=60),
    ("generic", "engine"): "auto",
}
"""Every field of every section and its documented default."""


class TestDefaults:
    def test_defaults_table_covers_every_field(self) -> None:
        """The defaults table has a row for every field of every section, and nothing else."""
        fields = {(section, name) for section, model in SECTIONS.items() for name in model.model_fields}
        assert set(DEFAULTS) == fields

    @pytest.mark.parametrize(("section", "name"), list(DEFAULTS), ids=lambda v: str(v))
    def test_field_default(self, section: str, name: str) -> None:
        """DataConfig() holds the documented default of each field."""
        assert value_of(DataConfig(), section, name) == DEFAULTS[(section, name)]

    @pytest.mark.parametrize(("section", "name"), list(DEFAULTS), ids=lambda v: str(v))
    def test_auto_with_no_sources_gives_defaults(self, section: str, name: str) -> None:
        """With nothing set anywhere, DataConfig.auto() is the defaults."""
        assert value_of(DataConfig.auto(), section, name) == DEFAULTS[(section, name)]

    def test_plain_constructor_reads_no_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """DataConfig() is pure defaults even when PERSIST_ and FLYTE_ variables are set."""
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://env:1")
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "9")
        assert DataConfig() == DataConfig.model_validate({})
        assert DataConfig().s3.endpoint is None
        assert DataConfig().s3.retries == 3

    def test_secret_fields_are_the_documented_ones(self) -> None:
        """Exactly the credentials DESIGN.md names are SecretStr fields."""
        assert frozenset(SECRET_FIELDS) == {
            ("s3", "secret_access_key"),
            ("s3", "session_token"),
            ("azure", "account_key"),
            ("azure", "client_secret"),
            ("azure", "connection_string"),
            ("azure", "sas_token"),
        }


# --------------------------------------------------------------------------------------------
# Each source on its own


class TestEachSource:
    def test_keyword_arguments_as_mapping(self) -> None:
        """A section given in code as a mapping sets its fields."""
        config = DataConfig.auto(s3={"endpoint": "http://kw:1", "retries": 0})
        assert (config.s3.endpoint, config.s3.retries) == ("http://kw:1", 0)

    def test_keyword_arguments_as_model(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A section given as a model sets only the fields it was built with; others stay open."""
        monkeypatch.setenv("PERSIST_S3__REGION", "eu-west-1")
        config = DataConfig.auto(s3=S3Config(retries=7))
        assert (config.s3.retries, config.s3.region) == (7, "eu-west-1")

    def test_persist_environment_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """PERSIST_<SECTION>__<FIELD> sets that field."""
        monkeypatch.setenv("PERSIST_AZURE__ACCOUNT_NAME", "acct")
        assert DataConfig.auto().azure.account_name == "acct"

    def test_yaml_file_given_in_code(self, tmp_path: Path) -> None:
        """A YAML file passed to auto() sets the fields it holds."""
        path = write_yaml(tmp_path, "gcs:\n  project: p1\n  requester_pays: true\n")
        config = DataConfig.auto(path)
        assert (config.gcs.project, config.gcs.requester_pays) == ("p1", True)

    def test_yaml_file_named_by_persist_config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a path in code, the file named by PERSIST_CONFIG is read."""
        monkeypatch.setenv(CONFIG_ENV, str(write_yaml(tmp_path, "s3:\n  region: ap-south-1\n")))
        assert DataConfig.auto().s3.region == "ap-south-1"

    def test_explicit_path_wins_over_persist_config(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A path given in code replaces PERSIST_CONFIG's file entirely; the two are not merged."""
        named = write_yaml(tmp_path, "s3:\n  region: from-env-file\n  retries: 9\n", "named.yaml")
        explicit = write_yaml(tmp_path, "s3:\n  region: from-code\n", "explicit.yaml")
        monkeypatch.setenv(CONFIG_ENV, str(named))
        config = DataConfig.auto(explicit)
        assert (config.s3.region, config.s3.retries) == ("from-code", 3)

    def test_empty_persist_config_reads_no_file(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty PERSIST_CONFIG means no file, not the current directory."""
        monkeypatch.setenv(CONFIG_ENV, "")
        assert DataConfig.auto() == DataConfig()

    def test_secrets_dir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file named like a PERSIST_ variable in PERSIST_SECRETS_DIR sets that field."""
        (tmp_path / "PERSIST_S3__SECRET_ACCESS_KEY").write_text("from-file", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        assert secret(DataConfig.auto().s3.secret_access_key) == "from-file"

    def test_from_yaml_reads_only_the_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """from_yaml ignores the environment, PERSIST_CONFIG and PERSIST_SECRETS_DIR."""
        (tmp_path / "PERSIST_S3__REGION").write_text("from-secrets", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://env:1")
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "9")
        monkeypatch.setenv(CONFIG_ENV, str(write_yaml(tmp_path, "s3:\n  access_key_id: other\n", "o.yaml")))
        config = DataConfig.from_yaml(write_yaml(tmp_path, "s3:\n  enable_debug: true\n"))
        assert config == DataConfig(s3=S3Config(enable_debug=True))


LEGACY_VALUES: dict[str, tuple[str, Any]] = {
    "FLYTE_AWS_ENDPOINT": ("http://minio:9000", "http://minio:9000"),
    "FLYTE_AWS_ACCESS_KEY_ID": ("AKIDEXAMPLE", "AKIDEXAMPLE"),
    "FLYTE_AWS_SECRET_ACCESS_KEY": ("legacy-secret", "legacy-secret"),
    "FLYTE_AWS_ADDRESSING_STYLE": ("path", "path"),
    "FLYTE_AWS_RETRIES": ("7", 7),
    "FLYTE_AWS_BACKOFF_SECONDS": ("2.5", timedelta(seconds=2.5)),
    "FLYTE_AWS_ENABLE_DEBUG": ("true", True),
    "FLYTE_AZURE_STORAGE_ACCOUNT_NAME": ("acct", "acct"),
    "FLYTE_AZURE_STORAGE_ACCOUNT_KEY": ("bGVnYWN5LWtleQ==", "bGVnYWN5LWtleQ=="),
    "FLYTE_AZURE_TENANT_ID": ("tenant", "tenant"),
    "FLYTE_AZURE_CLIENT_ID": ("client", "client"),
    "FLYTE_AZURE_CLIENT_SECRET": ("legacy-client-secret", "legacy-client-secret"),
    "FLYTE_GCP_GSUTIL_PARALLELISM": ("True", True),
    "FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA": ("False", False),
    "_F_P_WRITE_CHUNK_SIZE": ("10485760", 10 * MiB),
}
"""Each flytekit variable, a value as deployments write it, and the value persist reads."""

# A client_secret needs its tenant_id and client_id, so each Azure principal variable is tested
# with the other two set through persist's own variables.
_PRINCIPAL: dict[str, Any] = {
    "tenant_id": "tenant",
    "client_id": "client",
    "client_secret": "legacy-client-secret",
}


class TestLegacyEnvironment:
    def test_table_covers_every_legacy_variable(self) -> None:
        """Every flytekit variable persist reads has a row in LEGACY_VALUES."""
        assert set(LEGACY_VALUES) == set(LEGACY_ENV)

    def test_legacy_names_are_the_documented_ones(self) -> None:
        """persist reads exactly the flytekit variables DESIGN.md lists."""
        assert set(LEGACY_ENV) == {
            "FLYTE_AWS_ENDPOINT",
            "FLYTE_AWS_ACCESS_KEY_ID",
            "FLYTE_AWS_SECRET_ACCESS_KEY",
            "FLYTE_AWS_ADDRESSING_STYLE",
            "FLYTE_AWS_RETRIES",
            "FLYTE_AWS_BACKOFF_SECONDS",
            "FLYTE_AWS_ENABLE_DEBUG",
            "FLYTE_AZURE_STORAGE_ACCOUNT_NAME",
            "FLYTE_AZURE_STORAGE_ACCOUNT_KEY",
            "FLYTE_AZURE_TENANT_ID",
            "FLYTE_AZURE_CLIENT_ID",
            "FLYTE_AZURE_CLIENT_SECRET",
            "FLYTE_GCP_GSUTIL_PARALLELISM",
            "FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA",
            "_F_P_WRITE_CHUNK_SIZE",
        }

    @pytest.mark.parametrize("var", list(LEGACY_VALUES))
    def test_legacy_variable_sets_its_field(self, var: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each flytekit variable sets the field it set in flytekit, parsed to its type."""
        section, name = LEGACY_ENV[var]
        raw, expected = LEGACY_VALUES[var]
        monkeypatch.setenv(var, raw)
        if section == "azure" and name in _PRINCIPAL:
            for other, value in _PRINCIPAL.items():
                if other != name:
                    monkeypatch.setenv(env_name("azure", other), value)
        config, origins = load(DataConfig, default_sources(DataConfig))
        assert value_of(config, section, name) == expected
        assert origins[(section, name)] == Origin(var, f"{section}.{name}")


# --------------------------------------------------------------------------------------------
# Precedence, field by field


@dataclass
class Sources:
    """What a test configured, to pass on to DataConfig.auto()."""

    monkeypatch: pytest.MonkeyPatch
    tmp_path: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    config_file: Path | None = None


_LEGACY_NAME = {target: var for var, target in LEGACY_ENV.items()}


def _set_kwargs(src: Sources, values: dict[str, str]) -> None:
    src.overrides["s3"] = dict(values)


def _set_persist_env(src: Sources, values: dict[str, str]) -> None:
    for name, value in values.items():
        src.monkeypatch.setenv(env_name("s3", name), value)


def _set_flyte_env(src: Sources, values: dict[str, str]) -> None:
    for name, value in values.items():
        src.monkeypatch.setenv(_LEGACY_NAME[("s3", name)], value)


def _set_yaml(src: Sources, values: dict[str, str]) -> None:
    body = "".join(f"  {name}: {value}\n" for name, value in values.items())
    src.config_file = write_yaml(src.tmp_path, "s3:\n" + body)


def _set_secrets_dir(src: Sources, values: dict[str, str]) -> None:
    directory = src.tmp_path / "secrets"
    directory.mkdir()
    for name, value in values.items():
        (directory / env_name("s3", name)).write_text(value, encoding="utf-8")
    src.monkeypatch.setenv(SECRETS_DIR_ENV, str(directory))


SOURCE_SETTERS: list[tuple[str, Callable[[Sources, dict[str, str]], None]]] = [
    ("kwargs", _set_kwargs),
    ("PERSIST_env", _set_persist_env),
    ("FLYTE_env", _set_flyte_env),
    ("yaml", _set_yaml),
    ("secrets_dir", _set_secrets_dir),
]
"""Every source, highest priority first, each able to set s3.endpoint and s3.access_key_id."""

PRECEDENCE_PAIRS: dict[str, Any] = {
    "argnames": ("higher", "lower"),
    "argvalues": [
        pytest.param(
            SOURCE_SETTERS[i][1], SOURCE_SETTERS[j][1], id=f"{SOURCE_SETTERS[i][0]}>{SOURCE_SETTERS[j][0]}"
        )
        for i in range(len(SOURCE_SETTERS))
        for j in range(i + 1, len(SOURCE_SETTERS))
    ],
}
"""Every ordered pair of sources (higher, lower)."""


class TestPrecedence:
    @pytest.mark.parametrize(**PRECEDENCE_PAIRS)
    def test_higher_source_wins_per_field_and_lower_fills_the_rest(
        self, higher: Any, lower: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The higher source sets s3.endpoint, the lower sets it too and also s3.access_key_id:
        the endpoint comes from the higher one, the key id survives from the lower one, and a
        field neither sets keeps its default."""
        src = Sources(monkeypatch, tmp_path)
        higher(src, {"endpoint": "http://high:1"})
        lower(src, {"endpoint": "http://low:1", "access_key_id": "low-key"})
        config = DataConfig.auto(src.config_file, **src.overrides)
        assert config.s3.endpoint == "http://high:1"
        assert config.s3.access_key_id == "low-key"
        assert config.s3.region is None

    def test_sources_merge_across_sections(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each source may set a different section; all of them end up in one config."""
        (tmp_path / "PERSIST_AZURE__ACCOUNT_KEY").write_text("a2V5", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        monkeypatch.setenv("FLYTE_GCP_GSUTIL_PARALLELISM", "true")
        monkeypatch.setenv("PERSIST_GENERIC__MAX_CONCURRENCY", "4")
        path = write_yaml(tmp_path, "azure:\n  account_name: acct\n")
        config = DataConfig.auto(path, s3={"region": "r"})
        assert config.s3.region == "r"
        assert config.generic.max_concurrency == 4
        assert config.gcs.gsutil_parallelism is True
        assert config.azure.account_name == "acct"
        assert secret(config.azure.account_key) == "a2V5"

    def test_origins_name_the_winning_source(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """load() reports, per field, the variable or file that supplied the winning value."""
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://env:1")
        monkeypatch.setenv("FLYTE_AWS_ENDPOINT", "http://legacy:1")
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "1")
        path = write_yaml(tmp_path, "s3:\n  retries: 2\n  region: r\n")
        _, origins = load(DataConfig, default_sources(DataConfig, path, {"s3": {"enable_debug": True}}))
        assert origins[("s3", "endpoint")] == Origin("PERSIST_S3__ENDPOINT", "s3.endpoint")
        assert origins[("s3", "retries")] == Origin("FLYTE_AWS_RETRIES", "s3.retries")
        assert origins[("s3", "region")] == Origin(str(path), "s3.region")
        assert origins[("s3", "enable_debug")] == Origin("keyword arguments", "s3.enable_debug")


# --------------------------------------------------------------------------------------------
# flytekit's file layout

FLYTEKIT_CONNECTION: dict[str, Any] = {
    "argnames": ("key", "raw", "name", "expected"),
    "argvalues": [
        ("endpoint", "http://minio:9000", "endpoint", "http://minio:9000"),
        ("access-key", "minio", "access_key_id", "minio"),
        ("secret-key", "miniostorage", "secret_access_key", "miniostorage"),
        ("addressing-style", "path", "addressing_style", "path"),
        ("region", "us-east-1", "region", "us-east-1"),
    ],
}
"""Keys of flytekit's storage.connection and the S3Config field each one sets."""


class TestFlytekitLayout:
    @pytest.mark.parametrize(**FLYTEKIT_CONNECTION)
    def test_connection_key_maps_to_s3_field(
        self, key: str, raw: str, name: str, expected: str, tmp_path: Path
    ) -> None:
        """Each storage.connection key sets its s3 field."""
        path = write_yaml(tmp_path, f"storage:\n  connection:\n    {key}: {raw}\n")
        assert value_of(DataConfig.from_yaml(path), "s3", name) == expected

    def test_other_sections_and_flytectl_keys_are_ignored(self, tmp_path: Path) -> None:
        """admin: and logger: change nothing; flytectl's auth-type/disable-ssl neither; type minio
        means path addressing, as Flyte's stow client uses with any endpoint."""
        path = write_yaml(
            tmp_path,
            "admin:\n  endpoint: dns:///flyte.example.com\n  insecure: true\n"
            "logger:\n  level: 5\n"
            "storage:\n  type: minio\n  container: bucket\n"
            "  connection:\n    endpoint: http://minio:9000\n    auth-type: accesskey\n"
            "    disable-ssl: true\n",
        )
        assert DataConfig.from_yaml(path) == DataConfig(
            s3=S3Config(endpoint="http://minio:9000", addressing_style="path")
        )

    def test_file_without_storage_section_gives_defaults(self, tmp_path: Path) -> None:
        """A flytekit file with no storage section sets nothing."""
        path = write_yaml(tmp_path, "admin:\n  endpoint: dns:///flyte.example.com\n")
        assert DataConfig.from_yaml(path) == DataConfig()

    def test_unknown_connection_key_suggests_the_closest(self, tmp_path: Path) -> None:
        """A misspelt storage.connection key is an error that suggests the right one."""
        path = write_yaml(tmp_path, "storage:\n  connection:\n    acess-key: minio\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == (
            f"{path}: storage.connection.acess-key: unknown key; did you mean 'access-key'?"
        )

    def test_invalid_connection_value_names_the_flytekit_key(self, tmp_path: Path) -> None:
        """A bad value in storage.connection is reported under the key the file uses."""
        path = write_yaml(tmp_path, "storage:\n  connection:\n    addressing-style: dns\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == (
            f"{path}: storage.connection.addressing-style: Input should be 'auto', 'virtual' or 'path'"
        )

    def test_mixing_layouts_is_an_error(self, tmp_path: Path) -> None:
        """A file holding both persist's sections and flytekit's storage section is rejected."""
        path = write_yaml(tmp_path, "s3:\n  region: r\nstorage:\n  connection:\n    endpoint: http://a:1\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == (
            f"{path}: storage: mixes persist's layout (s3) with Flyte's storage section;"
            " use one layout per file"
        )

    def test_environment_supplies_the_secret_of_a_flytekit_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """FLYTE_AWS_SECRET_ACCESS_KEY completes a flytekit file that leaves secret-key out."""
        monkeypatch.setenv("FLYTE_AWS_SECRET_ACCESS_KEY", "env-secret")
        path = write_yaml(tmp_path, "storage:\n  connection:\n    access-key: minio\n")
        config = DataConfig.auto(path)
        assert (config.s3.access_key_id, secret(config.s3.secret_access_key)) == ("minio", "env-secret")


# --------------------------------------------------------------------------------------------
# Unknown keys and names


class TestUnknownKeys:
    def test_unknown_field_in_file_suggests_the_closest(self, tmp_path: Path) -> None:
        """A typo in a file is an error naming the file and suggesting the field."""
        path = write_yaml(tmp_path, "s3:\n  endpoit: http://a:1\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == f"{path}: s3.endpoit: unknown key; did you mean 'endpoint'?"

    def test_unknown_section_in_file_lists_the_sections(self, tmp_path: Path) -> None:
        """An unknown top-level key lists the allowed sections when none is close."""
        path = write_yaml(tmp_path, "blob:\n  x: 1\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == f"{path}: blob: unknown key; allowed: s3, gcs, azure, generic, stores"

    def test_unknown_persist_variable_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """PERSIST_S3__ENDPOIT is an error naming the variable, not a silent default."""
        monkeypatch.setenv("PERSIST_S3__ENDPOIT", "http://a:1")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == "PERSIST_S3__ENDPOIT: s3.endpoit: unknown key; did you mean 'endpoint'?"

    def test_persist_variable_without_field_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A PERSIST_ variable not of the form SECTION__FIELD says what the form is."""
        monkeypatch.setenv("PERSIST_S3_ENDPOINT", "http://a:1")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "PERSIST_S3_ENDPOINT: PERSIST_S3_ENDPOINT is not a persist setting; use "
            "PERSIST_<SECTION>__<FIELD> with SECTION one of S3, GCS, AZURE, GENERIC, "
            "or PERSIST_STORES__<NAME>__[<SECTION>__]<FIELD>"
        )

    def test_unknown_section_variable_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A PERSIST_ variable for a section that does not exist is an error naming it."""
        monkeypatch.setenv("PERSIST_BLOB__ENDPOINT", "http://a:1")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert (
            str(info.value)
            == "PERSIST_BLOB__ENDPOINT: blob: unknown key; allowed: s3, gcs, azure, generic, stores"
        )

    def test_unknown_secret_file_is_named(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A misspelt file in the secrets directory is an error naming the file."""
        (tmp_path / "PERSIST_S3__SECRET_ACESS_KEY").write_text("x", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            f"{tmp_path / 'PERSIST_S3__SECRET_ACESS_KEY'}: s3.secret_acess_key: unknown key; "
            "did you mean 'secret_access_key'?"
        )

    def test_control_variables_are_not_settings(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PERSIST_CONFIG and PERSIST_SECRETS_DIR are read as locations, not as unknown fields."""
        monkeypatch.setenv(CONFIG_ENV, str(write_yaml(tmp_path, "s3:\n  region: r\n")))
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path / "empty"))
        (tmp_path / "empty").mkdir()
        assert DataConfig.auto().s3.region == "r"

    def test_unrelated_variables_are_ignored(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Variables of other tools (AWS_*, FLYTE_ names persist does not know) are left alone."""
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "aws")
        monkeypatch.setenv("FLYTE_PLATFORM_URL", "dns:///x")
        assert DataConfig.auto() == DataConfig()


# --------------------------------------------------------------------------------------------
# Values


class TestEndpointCredentials:
    """Credentials in an endpoint URL are refused with where to put them (issue 15, section 3)."""

    PASSWORD = "pa55-canary-word"

    @pytest.mark.parametrize(
        ("variable", "field", "value", "hint"),
        [
            (
                "PERSIST_S3__ENDPOINT",
                "s3.endpoint",
                "http://user:{pw}@host:9000",
                "set s3.access_key_id and s3.secret_access_key instead",
            ),
            (
                "PERSIST_GCS__ENDPOINT",
                "gcs.endpoint",
                "https://user:{pw}@gcs.example",
                "set gcs.token to a service-account JSON file instead",
            ),
            (
                "PERSIST_AZURE__ACCOUNT_HOST",
                "azure.account_host",
                "http://user:{pw}@127.0.0.1:10000/acct",
                "set azure.account_key, azure.sas_token or azure.connection_string instead",
            ),
            (
                "PERSIST_AZURE__ACCOUNT_HOST",
                "azure.account_host",
                "user:{pw}@acct.blob.core.windows.net",
                "set azure.account_key, azure.sas_token or azure.connection_string instead",
            ),
        ],
    )
    def test_user_info_is_refused(
        self, variable: str, field: str, value: str, hint: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The error names the variable, the field and where credentials go; never the password."""
        monkeypatch.setenv(variable, value.format(pw=self.PASSWORD))
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            f"{variable}: {field}: must not hold credentials (user:password@host); {hint}"
        )
        assert self.PASSWORD not in repr(info.value)

    def test_user_info_in_yaml_names_the_file(self, tmp_path: Path) -> None:
        path = write_yaml(tmp_path, f"s3:\n  endpoint: http://u:{self.PASSWORD}@h:9000\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value).startswith(f"{path}: s3.endpoint: must not hold credentials")
        assert self.PASSWORD not in str(info.value)


class TestTimeoutValues:
    @pytest.mark.parametrize(("given", "seconds"), [("2.5", 2.5), (30, 30.0), ("PT1M", 60.0), (3600, 3600.0)])
    def test_seconds_or_iso(self, given: Any, seconds: float) -> None:
        generic = GenericPersistenceConfig(connect_timeout=given, read_timeout=given)
        assert generic.connect_timeout.total_seconds() == seconds
        assert generic.read_timeout.total_seconds() == seconds

    @pytest.mark.parametrize("value", ["0", "-1", "3601"])
    def test_out_of_range_is_an_error_naming_the_variable(
        self, value: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PERSIST_GENERIC__READ_TIMEOUT", value)
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "PERSIST_GENERIC__READ_TIMEOUT: generic.read_timeout: "
            "must be more than 0 and at most 3600 seconds"
        )

    def test_from_yaml(self, tmp_path: Path) -> None:
        path = write_yaml(tmp_path, "generic:\n  connect_timeout: 2.5\n  read_timeout: PT30S\n")
        generic = DataConfig.from_yaml(path).generic
        assert (generic.connect_timeout, generic.read_timeout) == (
            timedelta(seconds=2.5),
            timedelta(seconds=30),
        )

    def test_keyword_override_wins_over_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """DataConfig.auto(generic={...}) is how the CLI's --connect-timeout reaches the config."""
        monkeypatch.setenv("PERSIST_GENERIC__CONNECT_TIMEOUT", "20")
        monkeypatch.setenv("PERSIST_GENERIC__READ_TIMEOUT", "45")
        config = DataConfig.auto(generic={"connect_timeout": 3})
        assert config.generic.connect_timeout == timedelta(seconds=3)
        assert config.generic.read_timeout == timedelta(seconds=45)


class TestValues:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "https://s3.example.com", "http://minio/path"])
    def test_http_endpoints_are_accepted(self, url: str) -> None:
        """http and https endpoints with a host are accepted unchanged."""
        assert S3Config(endpoint=url).endpoint == url
        assert GCSConfig(endpoint=url).endpoint == url

    @pytest.mark.parametrize("url", ["ftp://host", "127.0.0.1:9000", "http://", "s3://bucket", "  x"])
    def test_endpoint_must_be_http_url(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Any other endpoint is an error saying what is allowed."""
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", url)
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "PERSIST_S3__ENDPOINT: s3.endpoint: must be an http:// or https:// URL with a host, "
            "e.g. https://host:9000"
        )

    def test_enum_error_lists_allowed_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A wrong addressing style lists the three allowed ones."""
        monkeypatch.setenv("FLYTE_AWS_ADDRESSING_STYLE", "dns")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "FLYTE_AWS_ADDRESSING_STYLE: s3.addressing_style: Input should be 'auto', 'virtual' or 'path'"
        )

    @pytest.mark.parametrize(
        ("raw", "expected"), [("False", False), ("false", False), ("0", False), ("True", True)]
    )
    def test_boolean_from_environment(
        self, raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Boolean variables read "False" as false (not as a non-empty, truthy string)."""
        monkeypatch.setenv("PERSIST_GENERIC__ATTACH_EXECUTION_METADATA", raw)
        assert DataConfig.auto().generic.attach_execution_metadata is expected

    @pytest.mark.parametrize(("raw", "expected"), [("false", False), ("'False'", False), ("true", True)])
    def test_boolean_from_file(self, raw: str, expected: bool, tmp_path: Path) -> None:
        """Booleans in a file may be YAML booleans or the strings "true"/"False"."""
        path = write_yaml(tmp_path, f"generic:\n  attach_execution_metadata: {raw}\n")
        assert DataConfig.from_yaml(path).generic.attach_execution_metadata is expected

    def test_unrecognised_boolean_in_environment_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A boolean variable holding "maybe" is an error, not true."""
        monkeypatch.setenv("FLYTE_AWS_ENABLE_DEBUG", "maybe")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "FLYTE_AWS_ENABLE_DEBUG: s3.enable_debug: "
            "Input should be a valid boolean, unable to interpret input"
        )

    def test_unrecognised_boolean_in_file_is_an_error(self, tmp_path: Path) -> None:
        """A boolean key holding "maybe" in a file is an error naming the file."""
        path = write_yaml(tmp_path, "gcs:\n  requester_pays: maybe\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == (
            f"{path}: gcs.requester_pays: Input should be a valid boolean, unable to interpret input"
        )

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("7", timedelta(seconds=7)),
            ("0.25", timedelta(seconds=0.25)),
            ("PT1M", timedelta(minutes=1)),
            ("'3'", timedelta(seconds=3)),
            ("0", timedelta(0)),
        ],
    )
    def test_backoff_in_file_accepts_seconds_and_iso_8601(
        self, raw: str, expected: timedelta, tmp_path: Path
    ) -> None:
        """s3.backoff takes a number of seconds (int, float or string) or an ISO 8601 duration."""
        path = write_yaml(tmp_path, f"s3:\n  backoff: {raw}\n")
        assert DataConfig.from_yaml(path).s3.backoff == expected

    def test_legacy_backoff_seconds_accepts_a_decimal_string(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """FLYTE_AWS_BACKOFF_SECONDS="2.5" is two and a half seconds."""
        monkeypatch.setenv("FLYTE_AWS_BACKOFF_SECONDS", "2.5")
        assert DataConfig.auto().s3.backoff == timedelta(seconds=2.5)

    def test_backoff_accepts_timedelta_in_code(self) -> None:
        """A timedelta given in code is kept as it is."""
        assert S3Config(backoff=timedelta(milliseconds=300)).backoff == timedelta(milliseconds=300)

    @pytest.mark.parametrize("raw", ["-1", "-2.5", "-PT1S"])
    def test_negative_backoff_is_rejected(self, raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """A negative backoff is an error, whichever way it is written."""
        monkeypatch.setenv("PERSIST_S3__BACKOFF", raw)
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == "PERSIST_S3__BACKOFF: s3.backoff: must not be negative"

    def test_retries_of_zero_is_allowed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """retries=0 means a single attempt and is valid."""
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "0")
        assert DataConfig.auto().s3.retries == 0

    def test_integer_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Integer variables are parsed from their text."""
        monkeypatch.setenv("_F_P_WRITE_CHUNK_SIZE", "8388608")
        assert DataConfig.auto().generic.write_chunk_size_bytes == 8 * MiB


class TestDeprecatedAlias:
    def test_misspelt_key_in_file_is_read_with_a_warning(self, tmp_path: Path) -> None:
        """s3.adressing_style (flytekit's spelling) still works, with a warning naming the file."""
        path = write_yaml(tmp_path, "s3:\n  adressing_style: path\n")
        with pytest.warns(PersistDeprecationWarning, match=r"adressing_style is deprecated") as record:
            config = DataConfig.from_yaml(path)
        assert config.s3.addressing_style == "path"
        assert (
            str(record[0].message) == f"{path}: s3.adressing_style is deprecated; spell it addressing_style"
        )

    def test_misspelt_keyword_in_code_is_read_with_a_warning(self) -> None:
        """S3Config(adressing_style=...) works and warns."""
        with pytest.warns(PersistDeprecationWarning):
            s3 = S3Config(adressing_style="virtual")
        assert s3.addressing_style == "virtual"

    def test_deprecated_property_reads_the_field(self) -> None:
        """The old attribute name still reads the configured style, for flytekit code."""
        assert S3Config(addressing_style="path").adressing_style == "path"

    def test_warning_is_a_future_warning(self) -> None:
        """PersistDeprecationWarning is shown by default (a FutureWarning)."""
        assert issubclass(PersistDeprecationWarning, FutureWarning)

    def test_both_spellings_agreeing_are_accepted(self, tmp_path: Path) -> None:
        """Both spellings with the same value load, with the warning."""
        path = write_yaml(tmp_path, "s3:\n  adressing_style: path\n  addressing_style: path\n")
        with pytest.warns(PersistDeprecationWarning):
            assert DataConfig.from_yaml(path).s3.addressing_style == "path"

    def test_conflicting_spellings_are_rejected(self, tmp_path: Path) -> None:
        """Both spellings with different values is an error that says which to keep."""
        path = write_yaml(tmp_path, "s3:\n  adressing_style: path\n  addressing_style: virtual\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert (
            str(info.value)
            == f"{path}: s3: adressing_style and addressing_style disagree; keep addressing_style"
        )


# --------------------------------------------------------------------------------------------
# Secrets directory


class TestSecretsDir:
    def test_file_names_are_case_insensitive(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """persist_s3__session_token sets s3.session_token like the upper-case name does."""
        (tmp_path / "persist_s3__session_token").write_text("tok", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        assert secret(DataConfig.auto().s3.session_token) == "tok"

    def test_surrounding_whitespace_is_stripped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A trailing newline (as `echo` and editors write) is not part of the secret."""
        (tmp_path / "PERSIST_AZURE__SAS_TOKEN").write_text("  sv=2024&sig=abc \n\n", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        assert secret(DataConfig.auto().azure.sas_token) == "sv=2024&sig=abc"

    def test_missing_directory_is_an_error(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A PERSIST_SECRETS_DIR that does not exist is an error naming the variable and path."""
        missing = tmp_path / "nope"
        monkeypatch.setenv(SECRETS_DIR_ENV, str(missing))
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == f"PERSIST_SECRETS_DIR: {missing} is not a directory"

    def test_kubernetes_layout_is_read_and_data_links_ignored(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A mounted Kubernetes secret (..data symlink, timestamped dir, linked keys) reads as its keys."""
        stamp = tmp_path / "..2024_05_01_12_00_00.123"
        stamp.mkdir()
        (stamp / "PERSIST_S3__SECRET_ACCESS_KEY").write_text("k8s-secret\n", encoding="utf-8")
        os.symlink(stamp.name, tmp_path / "..data")
        os.symlink("..data/PERSIST_S3__SECRET_ACCESS_KEY", tmp_path / "PERSIST_S3__SECRET_ACCESS_KEY")
        (tmp_path / "README").write_text("not a setting", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        assert DataConfig.auto() == DataConfig(s3=S3Config(secret_access_key=SecretStr("k8s-secret")))

    def test_secrets_dir_may_hold_any_field(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Non-secret fields may come from the directory too, parsed like variables."""
        (tmp_path / "PERSIST_S3__RETRIES").write_text("5\n", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        assert DataConfig.auto().s3.retries == 5


# --------------------------------------------------------------------------------------------
# Files that cannot be read


class TestFileErrors:
    def test_malformed_yaml_names_file_and_line(self, tmp_path: Path) -> None:
        """A YAML syntax error names the file, the line and column, and the problem."""
        path = write_yaml(tmp_path, "s3:\n  endpoint: http://a:1\n   region: r\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert (
            str(info.value)
            == f"{path}: line 3, column 10: not valid YAML: mapping values are not allowed here"
        )

    def test_missing_file_is_named(self, tmp_path: Path) -> None:
        """A config file that does not exist is an error naming it."""
        missing = tmp_path / "missing.yaml"
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(missing)
        assert str(info.value) == f"{missing}: cannot read the file: No such file or directory"

    def test_missing_file_from_persist_config_says_so(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the missing file came from PERSIST_CONFIG, the message says where the name came from."""
        missing = tmp_path / "missing.yaml"
        monkeypatch.setenv(CONFIG_ENV, str(missing))
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            f"{missing}: cannot read the file: No such file or directory (named by PERSIST_CONFIG)"
        )

    def test_top_level_must_be_a_mapping(self, tmp_path: Path) -> None:
        """A file whose top level is a list is an error listing the sections."""
        path = write_yaml(tmp_path, "- s3\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert (
            str(info.value)
            == f"{path}: the top level must be a mapping of sections (s3, gcs, azure, generic)"
        )

    def test_empty_section_is_allowed(self, tmp_path: Path) -> None:
        """A section written with no keys ("s3:") means its defaults."""
        path = write_yaml(tmp_path, "s3:\ngcs: {}\n")
        assert DataConfig.from_yaml(path) == DataConfig()


# --------------------------------------------------------------------------------------------
# Error text, exactly

BAD_FILES: dict[str, Any] = {
    "argnames": ("text", "expected"),
    "argvalues": [
        pytest.param(
            "s3:\n  retries: -1\n",
            "s3.retries: Input should be greater than or equal to 0",
            id="retries-negative",
        ),
        pytest.param(
            "s3:\n  retries: 1.5\n",
            "s3.retries: Input should be a valid integer, got a number with a fractional part",
            id="retries-fraction",
        ),
        pytest.param(
            "s3:\n  backoff: soon\n",
            "s3.backoff: Input should be a valid timedelta, invalid digit in duration",
            id="backoff-word",
        ),
        pytest.param("s3:\n  backoff: -3\n", "s3.backoff: must not be negative", id="backoff-negative"),
        pytest.param(
            "s3:\n  endpoint: 5\n", "s3.endpoint: Input should be a valid string", id="endpoint-int"
        ),
        pytest.param(
            "s3:\n  addressing_style: dns\n",
            "s3.addressing_style: Input should be 'auto', 'virtual' or 'path'",
            id="style-unknown",
        ),
        pytest.param(
            "s3: [1]\n", "s3: Input should be a valid dictionary or instance of S3Config", id="section-list"
        ),
        pytest.param(
            "gcs:\n  token: '  '\n",
            "gcs.token: must be a service-account JSON path, or anon, google_default or cloud",
            id="gcs-token-blank",
        ),
        pytest.param(
            "gcs:\n  endpoint: 127.0.0.1:4443\n",
            "gcs.endpoint: must be an http:// or https:// URL with a host, e.g. https://host:9000",
            id="gcs-endpoint-no-scheme",
        ),
        pytest.param(
            "azure:\n  account_host: host/path\n",
            "azure.account_host: must be a host name such as myaccount.blob.core.windows.net, "
            "or an http(s)://host:port[/account] URL",
            id="azure-host-path",
        ),
        pytest.param(
            "azure:\n  account_host: ftp://h\n",
            "azure.account_host: must be an http:// or https:// URL with a host, e.g. https://host:9000",
            id="azure-host-ftp",
        ),
        pytest.param(
            "azure:\n  client_id: c\n  client_secret: s\n",
            "azure: a service principal needs tenant_id and client_id (and client_secret unless "
            "workload identity supplies it); client_id and client_secret given, missing tenant_id",
            id="azure-secret-without-tenant",
        ),
        pytest.param(
            "generic:\n  write_chunk_size_bytes: 1024\n",
            "generic.write_chunk_size_bytes: Input should be greater than or equal to 5242880",
            id="chunk-too-small",
        ),
        pytest.param(
            "generic:\n  max_concurrency: 0\n",
            "generic.max_concurrency: Input should be greater than or equal to 1",
            id="concurrency-zero",
        ),
        pytest.param(
            "generic:\n  max_concurrency: 5000\n",
            "generic.max_concurrency: Input should be less than or equal to 1024",
            id="concurrency-huge",
        ),
        pytest.param(
            "storage:\n  connection: [endpoint]\n",
            "storage.connection: must be a mapping",
            id="connection-list",
        ),
        pytest.param(
            "s3:\n  endpoint: [1\n",
            "line 3, column 1: not valid YAML: expected ',' or ']', but got '<stream end>'",
            id="yaml-unclosed",
        ),
        pytest.param(
            "s3:\n\tendpoint: x\n",
            "line 2, column 1: not valid YAML: found character '\\t' that cannot start any token",
            id="yaml-tab",
        ),
    ],
}
"""Bad config files and the exact text after "FILE: " of the error each one raises."""

BAD_VARIABLES: dict[str, Any] = {
    "argnames": ("var", "value", "expected"),
    "argvalues": [
        (
            "FLYTE_AWS_RETRIES",
            "x",
            "s3.retries: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("PERSIST_S3__RETRIES", "-2", "s3.retries: Input should be greater than or equal to 0"),
        ("FLYTE_AWS_BACKOFF_SECONDS", "-0.5", "s3.backoff: must not be negative"),
        (
            "PERSIST_GCS__REQUESTER_PAYS",
            "maybe",
            "gcs.requester_pays: Input should be a valid boolean, unable to interpret input",
        ),
        (
            "_F_P_WRITE_CHUNK_SIZE",
            "big",
            f"generic.write_chunk_size_bytes: {INTEGER_ERROR}",
        ),
        (
            "PERSIST_AZURE__ACCOUNT_HOST",
            "a b",
            "azure.account_host: must be a host name such as myaccount.blob.core.windows.net, "
            "or an http(s)://host:port[/account] URL",
        ),
    ],
}
"""Bad variables and the exact text after "VAR: " of the error each one raises."""


class TestErrorText:
    @pytest.mark.parametrize(**BAD_FILES)
    def test_bad_file_error_text(self, text: str, expected: str, tmp_path: Path) -> None:
        """Each bad file raises exactly "FILE: field: message"."""
        path = write_yaml(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            DataConfig.from_yaml(path)
        assert str(info.value) == f"{path}: {expected}"

    @pytest.mark.parametrize(**BAD_VARIABLES)
    def test_bad_variable_error_text(
        self, var: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each bad variable raises exactly "VAR: field: message"."""
        monkeypatch.setenv(var, value)
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == f"{var}: {expected}"

    def test_bad_keyword_argument_names_the_source(self) -> None:
        """A bad value given in code is reported as coming from the keyword arguments."""
        with pytest.raises(ConfigError) as info:
            DataConfig.auto(s3={"retries": "x"})
        assert str(info.value) == (f"keyword arguments: s3.retries: {INTEGER_ERROR}")

    def test_all_problems_are_reported_at_once(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Problems in several fields and sources come in one ConfigError, one line each."""
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "x")
        monkeypatch.setenv("PERSIST_GCS__PROJEKT", "p")
        path = write_yaml(tmp_path, "s3:\n  addressing_style: dns\nazure:\n  account_host: a/b\n")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto(path)
        lines = str(info.value).splitlines()
        assert sorted(lines) == sorted(
            [
                f"FLYTE_AWS_RETRIES: s3.retries: {INTEGER_ERROR}",
                f"{path}: s3.addressing_style: Input should be 'auto', 'virtual' or 'path'",
                "PERSIST_GCS__PROJEKT: gcs.projekt: unknown key; did you mean 'project'?",
                f"{path}: azure.account_host: must be a host name such as myaccount.blob.core.windows.net, "
                "or an http(s)://host:port[/account] URL",
            ]
        )
        assert [str(p) for p in info.value.problems] == lines

    def test_problem_carries_structured_fields(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each problem keeps its source, dotted field and message apart, for the CLI."""
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "-1")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        problem = info.value.problems[0]
        assert (problem.source, problem.field, problem.message) == (
            "FLYTE_AWS_RETRIES",
            "s3.retries",
            "Input should be greater than or equal to 0",
        )

    def test_config_error_is_a_value_error(self) -> None:
        """ConfigError is a PersistError and a ValueError, so existing handlers catch it."""
        with pytest.raises(ValueError, match=r"s3\.retries"):
            DataConfig.auto(s3={"retries": -1})
        assert issubclass(ConfigError, PersistError)


# --------------------------------------------------------------------------------------------
# Immutability and hashing

MODELS: dict[str, Any] = {
    "argnames": "model",
    "argvalues": [
        S3Config(endpoint="http://a:1", secret_access_key=SecretStr("s")),
        GCSConfig(project="p"),
        AzureBlobStorageConfig(account_name="a", account_key=SecretStr("a2V5")),
        GenericPersistenceConfig(max_concurrency=2),
        DataConfig(s3=S3Config(region="r")),
    ],
    "ids": lambda model: type(model).__name__,
}
"""One configured instance of every model."""


class TestModels:
    @pytest.mark.parametrize(**MODELS)
    def test_models_are_frozen(self, model: Any) -> None:
        """Assigning to a field raises: a config cannot change under a cached filesystem."""
        name = next(iter(type(model).model_fields))
        with pytest.raises(ValidationError, match="frozen"):
            setattr(model, name, getattr(model, name))

    @pytest.mark.parametrize(**MODELS)
    def test_equal_models_hash_equal(self, model: Any) -> None:
        """Two equal configs built separately hash the same, so they share a cache entry."""
        copy = type(model).model_validate(model.model_dump())
        assert copy == model
        assert hash(copy) == hash(model)

    def test_configs_are_usable_as_dict_keys(self) -> None:
        """DataConfig works as a dict key; equal configs find the same entry, different ones do not."""
        cache = {DataConfig(s3=S3Config(region="a")): "a"}
        assert cache[DataConfig(s3=S3Config(region="a"))] == "a"
        assert DataConfig(s3=S3Config(region="b")) not in cache

    def test_configs_with_secrets_are_hashable(self) -> None:
        """Configs holding secrets hash too, and a different secret is a different key."""
        one = DataConfig(azure=AzureBlobStorageConfig(account_key=SecretStr("azE=")))
        two = DataConfig(azure=AzureBlobStorageConfig(account_key=SecretStr("azI=")))
        assert len({one, two, one}) == 2

    def test_unknown_keyword_in_code_is_rejected(self) -> None:
        """Models forbid unknown fields in code too."""
        with pytest.raises(ValidationError, match="endpoit"):
            S3Config(endpoit="http://a:1")


class TestServicePrincipal:
    def test_ids_without_secret_are_allowed(self) -> None:
        """tenant_id and client_id alone load: workload identity needs no secret."""
        config = DataConfig.auto(azure={"tenant_id": "t", "client_id": "c"})
        assert (config.azure.tenant_id, config.azure.client_id, config.azure.client_secret) == (
            "t",
            "c",
            None,
        )

    def test_secret_with_both_ids_loads(self) -> None:
        """A client_secret with its tenant_id and client_id is a complete service principal."""
        config = DataConfig.auto(azure={"tenant_id": "t", "client_id": "c", "client_secret": "s"})
        assert config.azure.client_secret is not None


def test_field_docs_without_source_leave_descriptions_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed without config.py's source, the import still works; nothing is overwritten."""
    import persist.config as config_module

    before = {name: info.description for name, info in S3Config.model_fields.items()}
    assert all(before.values())
    monkeypatch.setattr(config_module, "__file__", "/nonexistent/persist/config.py")
    config_module._attach_field_docs(S3Config)
    assert {name: info.description for name, info in S3Config.model_fields.items()} == before
