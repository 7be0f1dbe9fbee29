"""Canary tests: one unique secret value must never show up in reprs, errors or logs."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from persist._sources import LEGACY_ENV, SECRETS_DIR_ENV, default_sources, env_name, load
from persist.config import SECRET_FIELDS, SECTIONS, AzureBlobStorageConfig, DataConfig, S3Config
from persist.errors import ConfigError

CANARY = "canary7f3e9csecret00"  # valid base64, as an Azure account key must be
"""The secret value every test plants; it must appear nowhere a person or a log could read it."""

# A service principal needs its two non-secret parts next to the canary client secret.
PRINCIPAL_IDS = {"tenant_id": "tenant", "client_id": "client"}


@pytest.fixture(autouse=True)
def persist_debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every persist log record, down to DEBUG, for the final check of each test."""
    caplog.set_level(logging.DEBUG, logger="persist")
    return caplog


@pytest.fixture(autouse=True)
def no_canary_in_logs(persist_debug_logs: pytest.LogCaptureFixture) -> Any:
    """After each test, the captured log text holds no canary."""
    yield
    assert CANARY not in persist_debug_logs.text


def exposed_text(value: Any) -> str:
    """Everything a person could see of a value: str, repr and, for errors, the full traceback."""
    parts = [str(value), repr(value)]
    if isinstance(value, BaseException):
        parts.append("".join(traceback.format_exception(value)))
        parts.extend(str(arg) for arg in value.args)
    return "\n".join(parts)


def assert_hidden(*values: Any) -> None:
    for value in values:
        assert CANARY not in exposed_text(value)


def config_error(**kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        DataConfig.auto(**kwargs)
    return info.value


def yaml_error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        DataConfig.from_yaml(path)
    return info.value


def _all_secrets_yaml() -> str:
    lines = []
    for section in SECTIONS:
        names = sorted(name for sec, name in SECRET_FIELDS if sec == section)
        if not names:
            continue
        lines.append(f"{section}:")
        lines += [f"  {name}: {CANARY}" for name in names]
        if section == "azure":
            lines += [f"  {name}: {value}" for name, value in PRINCIPAL_IDS.items()]
    return "\n".join(lines) + "\n"


def _load_from_persist_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DataConfig:
    for section, name in SECRET_FIELDS:
        monkeypatch.setenv(env_name(section, name), CANARY)
    for name, value in PRINCIPAL_IDS.items():
        monkeypatch.setenv(env_name("azure", name), value)
    return DataConfig.auto()


def _load_from_legacy_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DataConfig:
    for var, target in LEGACY_ENV.items():
        if target in SECRET_FIELDS:
            monkeypatch.setenv(var, CANARY)
    monkeypatch.setenv("FLYTE_AZURE_TENANT_ID", "tenant")
    monkeypatch.setenv("FLYTE_AZURE_CLIENT_ID", "client")
    return DataConfig.auto()


def _load_from_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DataConfig:
    path = tmp_path / "secrets.yaml"
    path.write_text(_all_secrets_yaml(), encoding="utf-8")
    return DataConfig.auto(path)


def _load_from_secrets_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DataConfig:
    for section, name in SECRET_FIELDS:
        (tmp_path / env_name(section, name)).write_text(CANARY + "\n", encoding="utf-8")
    for name, value in PRINCIPAL_IDS.items():
        (tmp_path / env_name("azure", name)).write_text(value, encoding="utf-8")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    return DataConfig.auto()


def _load_from_kwargs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DataConfig:
    sections: dict[str, dict[str, Any]] = {}
    for section, name in SECRET_FIELDS:
        sections.setdefault(section, {})[name] = CANARY
    sections["azure"].update(PRINCIPAL_IDS)
    return DataConfig.auto(None, **sections)


LOADERS: dict[str, Any] = {
    "argnames": "loader",
    "argvalues": [
        pytest.param(_load_from_persist_env, id="PERSIST_env"),
        pytest.param(_load_from_legacy_env, id="FLYTE_env"),
        pytest.param(_load_from_yaml, id="yaml"),
        pytest.param(_load_from_secrets_dir, id="secrets_dir"),
        pytest.param(_load_from_kwargs, id="kwargs"),
    ],
}
"""Every way to hand persist a secret."""


class TestLoadedConfig:
    @pytest.mark.parametrize(**LOADERS)
    def test_secret_reaches_the_config(
        self, loader: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The canary is really loaded (so the hiding tests below are not vacuous)."""
        config = loader(monkeypatch, tmp_path)
        legacy_targets = {target for target in LEGACY_ENV.values() if target in SECRET_FIELDS}
        expected = legacy_targets if loader is _load_from_legacy_env else SECRET_FIELDS
        for section, name in expected:
            value = getattr(getattr(config, section), name)
            assert value.get_secret_value() == CANARY

    @pytest.mark.parametrize(**LOADERS)
    def test_repr_and_str_hide_secrets(
        self, loader: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """repr() and str() of the config, each section and each secret field hide the value."""
        config = loader(monkeypatch, tmp_path)
        sections = [getattr(config, section) for section in SECTIONS]
        fields = [getattr(getattr(config, section), name) for section, name in SECRET_FIELDS]
        assert_hidden(config, *sections, *fields)

    @pytest.mark.parametrize(**LOADERS)
    def test_json_dump_hides_secrets(
        self, loader: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """model_dump_json() (what a tool would print or log) masks every secret."""
        config = loader(monkeypatch, tmp_path)
        assert CANARY not in config.model_dump_json()

    @pytest.mark.parametrize(**LOADERS)
    def test_origins_hide_secrets(self, loader: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """The origins persist show prints name sources and keys, never values."""
        loader(monkeypatch, tmp_path)
        sources = default_sources(
            DataConfig, tmp_path / "secrets.yaml" if loader is _load_from_yaml else None
        )
        if loader is _load_from_kwargs:
            sources = default_sources(DataConfig, None, {"s3": {"secret_access_key": CANARY}})
        _, origins = load(DataConfig, sources)
        assert CANARY not in repr(origins)
        assert CANARY not in repr(sources)


class TestErrorsHideSecrets:
    @pytest.mark.parametrize(
        "value",
        [f"{{nested: {CANARY}}}", f"[{CANARY}]", f"{{{CANARY}: 1}}"],
        ids=["mapping", "list", "mapping-key"],
    )
    @pytest.mark.parametrize(("section", "name"), sorted(SECRET_FIELDS), ids=lambda v: str(v))
    def test_secret_of_wrong_type_in_file(self, section: str, name: str, value: str, tmp_path: Path) -> None:
        """A secret field holding a mapping or list is an error that does not echo the value."""
        err = yaml_error(tmp_path, f"{section}:\n  {name}: {value}\n")
        assert f"{section}.{name}" in str(err)
        assert_hidden(err)

    def test_secret_next_to_a_bad_field_in_file(self, tmp_path: Path) -> None:
        """An invalid endpoint in a file that also holds a secret reports the endpoint only."""
        err = yaml_error(tmp_path, f"s3:\n  secret_access_key: {CANARY}\n  endpoint: ftp://{CANARY}\n")
        assert "s3.endpoint" in str(err)
        assert_hidden(err)

    def test_secret_in_endpoint_password_is_not_echoed(self, tmp_path: Path) -> None:
        """A URL with a password that fails validation is reported without the URL."""
        err = yaml_error(tmp_path, f"gcs:\n  endpoint: ftp://user:{CANARY}@host\n")
        assert_hidden(err)

    def test_secret_under_a_misspelt_key(self, tmp_path: Path) -> None:
        """A secret under a misspelt key is reported by the key alone."""
        err = yaml_error(tmp_path, f"s3:\n  secret_acess_key: {CANARY}\n")
        assert "secret_acess_key" in str(err)
        assert_hidden(err)

    def test_secret_in_misspelt_flytekit_key(self, tmp_path: Path) -> None:
        """A secret under a misspelt storage.connection key is reported by the key alone."""
        err = yaml_error(tmp_path, f"storage:\n  connection:\n    secret-kee: {CANARY}\n")
        assert_hidden(err)

    @pytest.mark.parametrize(
        "line",
        [
            f"secret_access_key: *{CANARY}",
            f"secret_access_key: !{CANARY}",
            f"secret_access_key: !!{CANARY}",
            f'secret_access_key: "\\q{CANARY}"',
            f"secret_access_key: |{CANARY}",
            f'secret_access_key: "{CANARY}" trailing',
            f'secret_access_key: "{CANARY}',
            f"secret_access_key: {CANARY}: x",
        ],
        ids=["alias", "tag", "core-tag", "escape", "block-indicator", "trailing", "unterminated", "colon"],
    )
    def test_malformed_yaml_on_a_secret_line(self, line: str, tmp_path: Path) -> None:
        """A YAML syntax error on a secret's line names the line but never quotes the secret
        (PyYAML quotes aliases and tags it cannot resolve, and generated secrets may start with
        '*' or '!')."""
        err = yaml_error(tmp_path, f"s3:\n  {line}\n")
        assert "not valid YAML" in str(err)
        assert_hidden(err)

    def test_secret_variable_with_bad_sibling(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A secret variable next to an invalid variable stays out of the error."""
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", CANARY)
        monkeypatch.setenv("FLYTE_AWS_RETRIES", CANARY)
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", CANARY)
        err = config_error()
        assert len(err.problems) == 2
        assert_hidden(err)

    def test_secret_in_misspelt_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A secret in a misspelt PERSIST_ variable is reported by the variable's name alone."""
        monkeypatch.setenv("PERSIST_S3__SECRET_ACESS_KEY", CANARY)
        monkeypatch.setenv("PERSIST_S3_SECRET_ACCESS_KEY", CANARY)
        assert_hidden(config_error())

    def test_secret_in_misspelt_secret_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A misspelt file in the secrets directory is reported by its name alone."""
        (tmp_path / "PERSIST_AZURE__ACOUNT_KEY").write_text(CANARY, encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        assert_hidden(config_error())

    def test_incomplete_service_principal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A client secret without tenant and client ids is an error that does not show it."""
        monkeypatch.setenv("FLYTE_AZURE_CLIENT_SECRET", CANARY)
        err = config_error()
        assert "missing tenant_id and client_id" in str(err)
        assert_hidden(err)

    def test_secret_of_wrong_type_in_code(self) -> None:
        """A non-string secret passed in code is an error that does not echo it."""
        err = config_error(azure={"sas_token": {"value": CANARY}, "account_key": [CANARY]})
        assert len(err.problems) == 2
        assert_hidden(err)

    def test_direct_model_validation_error_hides_input(self) -> None:
        """Building a model directly with bad values raises a ValidationError without the input."""
        with pytest.raises(ValidationError) as info:
            S3Config(secret_access_key={"v": CANARY}, endpoint=f"ftp://{CANARY}")
        assert_hidden(info.value)
        with pytest.raises(ValidationError) as info:
            AzureBlobStorageConfig(client_secret=SecretStr(CANARY))
        assert_hidden(info.value)
