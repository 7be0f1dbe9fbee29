"""The wrapped pydantic-settings sources: provenance and errors from every source, the extension point."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    YamlConfigSettingsSource,
)

from persist._sources import (
    AWS_SECRET_ID_ENV,
    CONFIG_ENV,
    SECRETS_DIR_ENV,
    KeywordSource,
    LegacyFlyteEnvSource,
    Origin,
    PersistEnvSource,
    SecretsDirSource,
    Traced,
    YamlFileSource,
    default_sources,
    load,
    resolve,
    settings_class,
)
from persist.cli import cli
from persist.config import DataConfig, S3Config
from persist.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
INTEGER_ERROR = "Input should be a valid integer, unable to parse string as an integer"


class DictSource(PydanticBaseSettingsSource):
    """A third-party-style source: values from a dict, named by its repr."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any], name: str = "vault") -> None:
        super().__init__(settings_cls)
        self.values = values
        self.name = name

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {key: value for key, value in self.values.items() if value is not None}

    def __repr__(self) -> str:
        return f"DictSource({self.name})"


def dict_source(values: dict[str, Any], name: str = "vault") -> Callable[[type[BaseSettings]], DictSource]:
    return lambda settings_cls: DictSource(settings_cls, values, name)


# --------------------------------------------------------------------------------------------
# One table of sources: how each sets s3.retries to a raw value, and what it is named as.


def _kwargs(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    return {"s3": {"retries": value}}


def _env(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    mp.setenv("PERSIST_S3__RETRIES", value)
    return {}


def _env_lower(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    mp.setenv("persist_s3__retries", value)
    return {}


def _flyte_env(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    mp.setenv("FLYTE_AWS_RETRIES", value)
    return {}


def _yaml(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    (tmp / "c.yaml").write_text(f"s3:\n  retries: '{value}'\n", encoding="utf-8")
    mp.setenv(CONFIG_ENV, str(tmp / "c.yaml"))
    return {}


def _secrets_dir(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    (tmp / "secrets").mkdir()
    (tmp / "secrets" / "PERSIST_S3__RETRIES").write_text(f"{value}\n", encoding="utf-8")
    mp.setenv(SECRETS_DIR_ENV, str(tmp / "secrets"))
    return {}


def _extension(value: str, mp: pytest.MonkeyPatch, tmp: Path) -> dict[str, Any]:
    return {"extra_sources": [dict_source({"s3": {"retries": value}})]}


SOURCES: dict[str, Any] = {
    "argnames": ("setter", "source", "key"),
    "argvalues": [
        pytest.param(_kwargs, "keyword arguments", "s3.retries", id="kwargs"),
        pytest.param(_env, "PERSIST_S3__RETRIES", "s3.retries", id="PERSIST_env"),
        pytest.param(_env_lower, "persist_s3__retries", "s3.retries", id="PERSIST_env_any_case"),
        pytest.param(_flyte_env, "FLYTE_AWS_RETRIES", "s3.retries", id="FLYTE_env"),
        pytest.param(_yaml, "{tmp}/c.yaml", "s3.retries", id="yaml"),
        pytest.param(_secrets_dir, "{tmp}/secrets/PERSIST_S3__RETRIES", "s3.retries", id="secrets_dir"),
        pytest.param(_extension, "DictSource(vault)", "s3.retries", id="extension"),
    ],
}
"""Every source, with the name persist gives it for a value it supplied."""

SHOWN_SOURCES: dict[str, Any] = {
    "argnames": SOURCES["argnames"],
    "argvalues": [param for param in SOURCES["argvalues"] if param.id != "kwargs"],
}
"""The sources `persist show` reads (keyword arguments exist only in code)."""


def auto(kwargs: dict[str, Any]) -> DataConfig:
    extra = kwargs.pop("extra_sources", ())
    return DataConfig.auto(extra_sources=extra, **kwargs)


class TestEverySource:
    @pytest.mark.parametrize(**SOURCES)
    def test_provenance_names_the_source(
        self, setter: Any, source: str, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The origin of a value is the variable, file, secret file, kwargs or extension that set it."""
        kwargs = setter("5", monkeypatch, tmp_path)
        extra = kwargs.pop("extra_sources", ())
        loaded = resolve(DataConfig, default_sources(DataConfig, None, kwargs, extra))
        assert loaded.config.s3.retries == 5
        assert loaded.origins[("s3", "retries")] == Origin(source.format(tmp=tmp_path), key)

    @pytest.mark.parametrize(**SOURCES)
    def test_error_names_the_source(
        self, setter: Any, source: str, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A bad value is `SOURCE: dotted.field: message`, whatever the source."""
        kwargs = setter("many", monkeypatch, tmp_path)
        with pytest.raises(ConfigError) as info:
            auto(kwargs)
        assert str(info.value) == f"{source.format(tmp=tmp_path)}: {key}: {INTEGER_ERROR}"

    @pytest.mark.parametrize(**SHOWN_SOURCES)
    def test_show_names_the_source(
        self,
        setter: Any,
        source: str,
        key: str,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        runner: CliRunner,
    ) -> None:
        """`persist show` prints the value with its source (extensions through --source)."""
        kwargs = setter("6", monkeypatch, tmp_path)
        args = ["show"]
        if kwargs.get("extra_sources"):
            module = tmp_path / "ext_source_mod.py"
            module.write_text(
                "from tests.test_sources import dict_source\n"
                "factory = dict_source({'s3': {'retries': '6'}})\n",
                encoding="utf-8",
            )
            monkeypatch.syspath_prepend(str(tmp_path))
            args += ["--source", "ext_source_mod:factory"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert f"  retries: 6  # {source.format(tmp=tmp_path)}" in result.stdout.splitlines()


class TestSourceClasses:
    def test_each_builtin_is_a_pydantic_settings_source(self) -> None:
        """The sources are pydantic-settings' classes, built with the settings mirror of the model."""
        expected = [
            (KeywordSource, InitSettingsSource),
            (PersistEnvSource, EnvSettingsSource),
            (LegacyFlyteEnvSource, PydanticBaseSettingsSource),
            (YamlFileSource, YamlConfigSettingsSource),
            (SecretsDirSource, NestedSecretsSettingsSource),
        ]
        traced = default_sources(DataConfig)
        assert [type(t.source) for t in traced] == [ours for ours, _ in expected]
        for t, (_, theirs) in zip(traced, expected, strict=True):
            assert isinstance(t.source, theirs)
            assert t.source.settings_cls is settings_class(DataConfig)

    def test_settings_mirror_has_the_model_fields(self) -> None:
        """The loading-only BaseSettings class mirrors the model's sections and nothing else."""
        mirror = settings_class(DataConfig)
        assert issubclass(mirror, BaseSettings)
        assert not issubclass(DataConfig, BaseSettings)
        assert {name: f.annotation for name, f in mirror.model_fields.items()} == {
            name: f.annotation for name, f in DataConfig.model_fields.items()
        }

    def test_loaded_config_equals_the_plain_model(self, tmp_path: Path) -> None:
        """A config loaded from a file is equal (and hashes equal) to the same values built in code."""
        path = tmp_path / "c.yaml"
        path.write_text("s3:\n  endpoint: http://a:1\n  retries: 2\n", encoding="utf-8")
        built = DataConfig(s3=S3Config(endpoint="http://a:1", retries=2))
        loaded = DataConfig.from_yaml(path)
        assert loaded == built
        assert hash(loaded) == hash(built)
        assert type(loaded) is DataConfig

    def test_a_failing_extension_is_named(self) -> None:
        """A pydantic-settings error raised by a source becomes a ConfigError naming the source."""
        from pydantic_settings import SettingsError

        class Broken(DictSource):
            def __call__(self) -> dict[str, Any]:
                raise SettingsError('error parsing value for field "s3" from source "Broken"')

        with pytest.raises(ConfigError) as info:
            DataConfig.auto(extra_sources=[lambda cls: Broken(cls, {}, "broken")])
        assert (
            str(info.value) == 'DictSource(broken): error parsing value for field "s3" from source "Broken"'
        )

    def test_traced_repr_hides_keyword_secrets(self) -> None:
        """A wrapped keyword source names sections only: a secret given in code is not echoed."""
        traced = default_sources(DataConfig, None, {"s3": {"secret_access_key": "kw-canary-1"}})
        assert "kw-canary-1" not in repr(traced)
        assert "KeywordSource(['s3'])" in repr(traced)

    def test_keyword_model_keeps_other_fields_of_its_section(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """s3=S3Config(retries=7) overrides one field; the section's others still come from below."""
        monkeypatch.setenv("PERSIST_S3__REGION", "eu-north-1")
        config, origins = load(DataConfig, default_sources(DataConfig, None, {"s3": S3Config(retries=7)}))
        assert (config.s3.retries, config.s3.region) == (7, "eu-north-1")
        assert origins[("s3", "region")] == Origin("PERSIST_S3__REGION", "s3.region")


class TestSecretsDirWalk:
    def test_link_out_of_the_directory_is_not_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A secret file that is a link to a file outside the directory is skipped, not read."""
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "stolen").write_text("from-outside", encoding="utf-8")
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "PERSIST_S3__REGION").symlink_to(outside / "stolen")
        (secrets / "PERSIST_S3__ACCESS_KEY_ID").write_text("inside\n", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))
        config = DataConfig.auto()
        assert (config.s3.region, config.s3.access_key_id) == (None, "inside")

    def test_unreadable_secret_file_is_named(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A secret file that is not UTF-8 is an error naming the file, without its bytes."""
        (tmp_path / "PERSIST_S3__SECRET_ACCESS_KEY").write_bytes(b"\xff\xfe secret")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            f"{tmp_path / 'PERSIST_S3__SECRET_ACCESS_KEY'}: cannot read the secret file: it is not UTF-8 text"
        )


class TestAwsSecretSelection:
    """What happens before any request; tests/integration/test_aws_secrets.py talks to moto."""

    def test_without_boto3_the_error_says_what_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """PERSIST_AWS_SECRET_ID without boto3 installed names the extra to install."""
        monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` meets when it is absent
        monkeypatch.setenv(AWS_SECRET_ID_ENV, "prod/persist")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "PERSIST_AWS_SECRET_ID: reading an AWS Secrets Manager secret needs boto3; "
            "run `pip install 'persist[aws-secrets]'`"
        )

    def test_without_a_region_the_error_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """No PERSIST_AWS_SECRET_REGION and no AWS region anywhere is an error saying what to set."""
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        monkeypatch.setenv(AWS_SECRET_ID_ENV, "prod/persist")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "PERSIST_AWS_SECRET_REGION: no region for the secret 'prod/persist'; "
            "set PERSIST_AWS_SECRET_REGION or AWS_REGION"
        )

    def test_unset_secret_id_reads_no_secret(self) -> None:
        """Without PERSIST_AWS_SECRET_ID there is no AWS source at all (boto3 is not imported for it)."""
        assert not any(
            type(t.source).__name__ == "AwsSecretsManagerSource" for t in default_sources(DataConfig)
        )


class TestExtensionPoint:
    def test_default_slot_is_below_the_variables_and_above_the_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Without a slot an extra source loses to PERSIST_* and FLYTE_* and wins over the file."""
        monkeypatch.setenv("PERSIST_S3__REGION", "env")
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "1")
        path = tmp_path / "c.yaml"
        path.write_text("s3:\n  endpoint: http://file:1\n  access_key_id: file\n", encoding="utf-8")
        vault = dict_source({"s3": {"region": "vault", "retries": 9, "endpoint": "http://vault:1"}})
        config = DataConfig.auto(path, extra_sources=[vault])
        assert (config.s3.region, config.s3.retries) == ("env", 1)
        assert (config.s3.endpoint, config.s3.access_key_id) == ("http://vault:1", "file")

    @pytest.mark.parametrize(
        ("slot", "expected"),
        [("env", "vault"), ("flyte_env", "env"), ("defaults", "env")],
    )
    def test_slot_places_the_source_above_the_named_one(
        self, slot: str, expected: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """(slot, source) goes just above the built-in source the slot names."""
        monkeypatch.setenv("PERSIST_S3__REGION", "env")
        config = DataConfig.auto(extra_sources=[(slot, dict_source({"s3": {"region": "vault"}}))])
        assert config.s3.region == expected

    def test_defaults_slot_only_fills_what_nothing_else_sets(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At the bottom, an extra source loses even to a secret file."""
        (tmp_path / "PERSIST_S3__REGION").write_text("from-file", encoding="utf-8")
        monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
        vault = dict_source({"s3": {"region": "vault", "access_key_id": "vault-id"}})
        config = DataConfig.auto(extra_sources=[("defaults", vault)])
        assert (config.s3.region, config.s3.access_key_id) == ("from-file", "vault-id")

    def test_instance_and_factory_both_work(self) -> None:
        """An extra source may be given built (from settings_class) or as a factory."""
        built = DictSource(settings_class(DataConfig), {"gcs": {"project": "p1"}}, "built")
        config = DataConfig.auto(
            extra_sources=[built, dict_source({"gcs": {"project": "p2", "token": "anon"}})]
        )
        assert (config.gcs.project, config.gcs.token) == ("p1", "anon")

    def test_keyword_arguments_override_one_field_of_an_extension(self) -> None:
        """Keyword arguments win field by field over an extra source, even one placed above env."""
        vault = dict_source({"s3": {"region": "vault", "access_key_id": "vault-id"}})
        config = DataConfig.auto(extra_sources=[("env", vault)], s3={"region": "code"})
        assert (config.s3.region, config.s3.access_key_id) == ("code", "vault-id")

    def test_unknown_key_from_an_extension_is_named(self) -> None:
        """An extension's misspelt field is an error naming the extension and hinting the field."""
        with pytest.raises(ConfigError) as info:
            DataConfig.auto(extra_sources=[dict_source({"s3": {"regoin": "x"}})])
        assert str(info.value) == "DictSource(vault): s3.regoin: unknown key; did you mean 'region'?"

    def test_traced_wraps_any_source(self) -> None:
        """Traced records each value a foreign source returned under the source's repr."""
        layer = Traced(DictSource(settings_class(DataConfig), {"azure": {"account_name": "a"}}))()
        assert layer.data == {"azure": {"account_name": "a"}}
        assert layer.origins == {("azure", "account_name"): Origin("DictSource(vault)", "azure.account_name")}


class TestExample:
    def test_vault_example_runs(self) -> None:
        """examples/vault_source.py runs and shows each placement's effect."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "vault_source.py")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "default place: region=us-east-2 endpoint=http://127.0.0.1:9000",
            "secret stays masked: SecretStr('**********')",
            "above the variables: region=eu-west-1",
            "keyword argument: region=ap-south-1 key id=vault-key-id",
        ]

    def test_show_names_the_example_vault(self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
        """`persist show --source vault_source:vault` names the vault for its values, secret masked."""
        monkeypatch.syspath_prepend(str(ROOT / "examples"))
        result = runner.invoke(cli, ["show", "--source", "vault_source:vault"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert "  region: eu-west-1  # VaultSource(path='secret/data/persist')" in lines
        assert "  secret_access_key: '[secure]'  # VaultSource(path='secret/data/persist')" in lines
        assert "vault-secret" not in result.output

    def test_bad_source_option_is_a_usage_error(self, runner: CliRunner) -> None:
        """--source needs MODULE:NAME naming something importable."""
        result = runner.invoke(cli, ["show", "--source", "no_such_module_xyz:thing"])
        assert result.exit_code == 2
        assert "Invalid value for '--source': cannot import no_such_module_xyz" in result.output
