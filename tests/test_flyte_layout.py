"""Flyte's storage layouts (stow, storage.kind/config, storage.connection), and the validation
that catches what would break later: duplicate keys, empty variables, case, bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from persist._sources import Layer, Note, default_sources, file_sources, resolve
from persist.config import AzureBlobStorageConfig, DataConfig, S3Config
from persist.errors import ConfigError

AZURE_KEY = "a2V5LWZvci10ZXN0cw=="
"""A base64 string, as an Azure account key is (not a real key)."""


def write(tmp_path: Path, text: str, name: str = "flyte.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stow(kind: str, config: str, extra: str = "") -> str:
    """A Flyte file with ``storage.stow`` of ``kind``; ``config`` is the indented config body."""
    body = "".join(f"      {line}\n" for line in config.splitlines())
    return (
        "admin:\n  endpoint: dns:///flyte.example.com\n"
        f"storage:\n  type: stow\n  stow:\n    kind: {kind}\n    config:\n{body}{extra}"
    )


def file_layer(path: Path) -> Layer:
    """What the YAML source found in one file: values, origins, notes, the bucket."""
    return file_sources(DataConfig, path)[0]()


def notes(path: Path) -> list[tuple[str, str, bool]]:
    """The (field, message, strict) notes reading ``path`` gives."""
    return [(n.field, n.message, n.strict) for n in file_layer(path).notes]


def problem_lines(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        DataConfig.from_yaml(path)
    return str(info.value).splitlines()


STOW_S3_KEYS: dict[str, Any] = {
    "argnames": ("line", "name", "expected"),
    "argvalues": [
        ("access_key_id: minio", "access_key_id", "minio"),
        ("secret_key: miniostorage", "secret_access_key", SecretStr("miniostorage")),
        ("token: session", "session_token", SecretStr("session")),
        ("region: us-east-2", "region", "us-east-2"),
        ("endpoint: http://localhost:30002", "endpoint", "http://localhost:30002"),
        ("addressing_style: virtual", "addressing_style", "virtual"),
    ],
}
"""Each stow s3 config key and the s3 field it sets."""


class TestStowS3:
    @pytest.mark.parametrize(**STOW_S3_KEYS)
    def test_key_sets_its_field(self, tmp_path: Path, line: str, name: str, expected: Any) -> None:
        """storage.stow.config.<key> sets the matching s3 field."""
        config = DataConfig.from_yaml(write(tmp_path, stow("s3", line)))
        assert getattr(config.s3, name) == expected

    @pytest.mark.parametrize(
        ("disable_ssl", "expected"),
        [("true", "http://minio.flyte:9000"), ("false", "https://minio.flyte:9000")],
    )
    def test_endpoint_without_scheme_follows_disable_ssl(
        self, tmp_path: Path, disable_ssl: str, expected: str
    ) -> None:
        """A bare host gets http:// with disable_ssl: true, else https://, as aws-sdk-go does."""
        text = stow("s3", f"endpoint: minio.flyte:9000\ndisable_ssl: {disable_ssl}")
        assert DataConfig.from_yaml(write(tmp_path, text)).s3.endpoint == expected

    def test_endpoint_means_path_addressing(self, tmp_path: Path) -> None:
        """stow forces path-style requests whenever an endpoint is given; persist does the same."""
        config = DataConfig.from_yaml(write(tmp_path, stow("s3", "endpoint: http://minio:9000")))
        assert config.s3.addressing_style == "path"

    def test_minio_type_means_path_addressing(self, tmp_path: Path) -> None:
        """storage.type: minio implies path addressing."""
        text = "storage:\n  type: minio\n  connection:\n    endpoint: http://minio:9000\n"
        assert DataConfig.from_yaml(write(tmp_path, text)).s3.addressing_style == "path"

    def test_iam_sets_no_keys(self, tmp_path: Path) -> None:
        """auth_type: iam leaves credentials to the provider chain, without a note."""
        path = write(tmp_path, stow("s3", "auth_type: iam\nregion: us-east-2"))
        assert DataConfig.from_yaml(path) == DataConfig(s3=S3Config(region="us-east-2"))
        assert notes(path) == []

    def test_iam_with_keys_is_contradictory(self, tmp_path: Path) -> None:
        """Keys given with iam are ignored (as Flyte ignores them), and a strict note says so."""
        path = write(tmp_path, stow("s3", "auth_type: IAM\naccess_key_id: k\nsecret_key: s"))
        assert DataConfig.from_yaml(path).s3.access_key_id is None
        assert notes(path) == [
            (
                "storage.stow.config.auth_type",
                "iam means the provider chain (instance role, IRSA, AWS_* variables), yet "
                "access_key_id, secret_key also given; they are ignored, as Flyte ignores them: "
                "remove them or use auth_type: accesskey",
                True,
            )
        ]

    def test_unknown_auth_type_is_an_error(self, tmp_path: Path) -> None:
        """auth_type takes accesskey or iam."""
        path = write(tmp_path, stow("s3", "auth_type: sso"))
        assert problem_lines(path) == [f"{path}: storage.stow.config.auth_type: must be accesskey or iam"]

    @pytest.mark.parametrize(("value", "expected"), [("true", 1), ("false", 0), ('"True"', 1)])
    def test_v2_signing_true_is_a_strict_note(self, tmp_path: Path, value: str, expected: int) -> None:
        """v2_signing: true changes how Flyte signs; persist cannot, so --strict fails on it."""
        path = write(tmp_path, stow("s3", f"v2_signing: {value}"))
        assert len([n for n in notes(path) if n[0] == "storage.stow.config.v2_signing" and n[2]]) == expected

    def test_unknown_key_suggests_the_closest(self, tmp_path: Path) -> None:
        """A misspelt stow key is an error with a suggestion."""
        path = write(tmp_path, stow("s3", "acess_key_id: k"))
        assert problem_lines(path) == [
            f"{path}: storage.stow.config.acess_key_id: unknown key; did you mean 'access_key_id'?"
        ]

    def test_keys_are_case_insensitive_as_in_viper(self, tmp_path: Path) -> None:
        """viper, which reads Flyte's files, matches keys in any case; so does persist."""
        text = "Storage:\n  Type: Stow\n  Stow:\n    Kind: S3\n    Config:\n      Region: eu-west-1\n"
        assert DataConfig.from_yaml(write(tmp_path, text, "x.yaml")).s3.region == "eu-west-1"

    def test_older_kind_config_form(self, tmp_path: Path) -> None:
        """flytectl's documented storage.kind + storage.config reads like storage.stow."""
        text = "storage:\n  kind: s3\n  config:\n    auth_type: iam\n    region: us-east-2\n  container: b\n"
        path = write(tmp_path, text)
        assert DataConfig.from_yaml(path) == DataConfig(s3=S3Config(region="us-east-2"))
        assert file_layer(path).bucket is not None

    def test_stow_and_kind_together_is_an_error(self, tmp_path: Path) -> None:
        """One file gives the stow settings once."""
        text = "storage:\n  kind: s3\n  stow:\n    kind: s3\n"
        path = write(tmp_path, text)
        assert problem_lines(path) == [
            f"{path}: storage.stow: give either storage.stow or storage.kind/config, not both"
        ]

    def test_connection_and_stow_must_agree(self, tmp_path: Path) -> None:
        """storage.connection and storage.stow setting one field differently is an error naming both."""
        text = stow("s3", "endpoint: http://b:2").replace(
            "storage:\n", "storage:\n  connection:\n    endpoint: http://a:1\n"
        )
        path = write(tmp_path, text)
        assert problem_lines(path) == [
            f"{path}: storage.stow.config.endpoint: disagrees with storage.connection.endpoint "
            "(s3.endpoint); keep one of them"
        ]


class TestStowOtherKinds:
    def test_google(self, tmp_path: Path) -> None:
        """project_id sets gcs.project; an empty json means default credentials, without a note."""
        path = write(tmp_path, stow("google", 'json: ""\nproject_id: my-project'))
        assert DataConfig.from_yaml(path).gcs.project == "my-project"
        assert notes(path) == []

    def test_google_inline_json_is_not_read(self, tmp_path: Path) -> None:
        """Inline service-account JSON is a strict note naming what to do instead; never echoed."""
        path = write(tmp_path, stow("google", 'json: \'{"private_key": "zzsecretzz"}\'\nproject_id: p'))
        found = notes(path)
        assert found == [
            (
                "storage.stow.config.json",
                "inline service-account JSON is not read; mount it as a file and set gcs.token "
                "(PERSIST_GCS__TOKEN) to its path",
                True,
            )
        ]
        assert DataConfig.from_yaml(path).gcs.token is None

    def test_azure(self, tmp_path: Path) -> None:
        """account and key set azure.account_name and azure.account_key."""
        path = write(tmp_path, stow("azure", f"account: acct\nkey: {AZURE_KEY}"))
        assert DataConfig.from_yaml(path).azure == AzureBlobStorageConfig(
            account_name="acct", account_key=SecretStr(AZURE_KEY)
        )

    def test_azure_domain_suffix_sets_the_host(self, tmp_path: Path) -> None:
        """A sovereign-cloud domain_suffix becomes account_host."""
        path = write(tmp_path, stow("azure", "account: acct\ndomain_suffix: core.chinacloudapi.cn"))
        assert DataConfig.from_yaml(path).azure.account_host == "acct.blob.core.chinacloudapi.cn"

    def test_unknown_kind_is_an_error(self, tmp_path: Path) -> None:
        """Only the kinds persist can serve are accepted."""
        path = write(tmp_path, stow("oracle", "region: r"))
        assert problem_lines(path) == [f"{path}: storage.stow.kind: must be one of s3, google, azure, local"]


BUCKETS: dict[str, Any] = {
    "argnames": ("text", "expected"),
    "argvalues": [
        pytest.param(stow("s3", "region: r", "  container: b1\n"), "s3://b1", id="s3"),
        pytest.param(stow("google", "project_id: p", "  container: b2\n"), "gs://b2", id="google"),
        pytest.param(stow("azure", "account: a", "  container: b3\n"), "abfs://b3", id="azure"),
        pytest.param(stow("local", "path: /data", "  container: b4\n"), "/data/b4", id="local"),
        pytest.param("storage:\n  type: minio\n  container: b5\n", "s3://b5", id="minio-type"),
        pytest.param(
            "storage:\n  container: b6\n  raw-output-data-prefix: s3://other/raw\n",
            "s3://other/raw",
            id="raw-output-prefix",
        ),
    ],
}


class TestDeploymentBucket:
    @pytest.mark.parametrize(**BUCKETS)
    def test_container_is_the_deployment_bucket(self, tmp_path: Path, text: str, expected: str) -> None:
        """storage.container (or raw-output-data-prefix) becomes a URI for the stow kind."""
        bucket = file_layer(write(tmp_path, text)).bucket
        assert bucket is not None
        assert bucket[0] == expected

    def test_resolve_reports_the_bucket_and_its_key(self, tmp_path: Path) -> None:
        """resolve() carries the bucket and the key it came from."""
        path = write(tmp_path, stow("s3", "region: r", "  container: b\n"))
        loaded = resolve(DataConfig, default_sources(DataConfig, path))
        assert loaded.bucket is not None
        assert (loaded.bucket[0], loaded.bucket[1].key) == ("s3://b", "storage.container")


class TestStorageType:
    def test_unknown_type_is_an_error(self, tmp_path: Path) -> None:
        """storage.type lists what Flyte accepts."""
        path = write(tmp_path, "storage:\n  type: ftp\n")
        assert problem_lines(path) == [
            f"{path}: storage.type: must be one of s3, minio, stow, local, mem, redis"
        ]

    def test_mem_has_no_equivalent(self, tmp_path: Path) -> None:
        """type: mem is a strict note."""
        path = write(tmp_path, "storage:\n  type: mem\n")
        assert [n[0] for n in notes(path) if n[2]] == ["storage.type"]

    def test_backend_only_keys_are_one_plain_note(self, tmp_path: Path) -> None:
        """limits, cache... have no persist equivalent: one warning naming them, never strict."""
        path = write(tmp_path, stow("s3", "region: r", "  limits:\n    maxDownloadMBs: 10\n  cache: {}\n"))
        assert notes(path) == [
            (
                "storage.cache, storage.limits",
                "Flyte backend settings with no persist equivalent; ignored",
                False,
            )
        ]

    def test_file_without_storage_settings_is_a_strict_note(self, tmp_path: Path) -> None:
        """A Flyte file with only admin:/logger: reads nothing; that is said, never a bare OK."""
        path = write(tmp_path, "admin:\n  endpoint: dns:///x\nlogger:\n  level: 1\n")
        assert file_layer(path).notes == [
            Note(
                str(path),
                "storage",
                "no storage settings found; persist reads storage.connection, storage.stow "
                "(or storage.kind and storage.config) and storage.container",
                True,
            )
        ]


class TestDuplicateKeys:
    def test_two_sections_name_both_lines(self, tmp_path: Path) -> None:
        """Two s3: sections are an error naming both lines (PyYAML would keep the last)."""
        path = write(tmp_path, "s3:\n  region: a\ngcs: {}\ns3:\n  region: b\n")
        assert problem_lines(path) == [
            f"{path}: s3: given twice, on lines 1 and 4; keep one (YAML would silently keep only the last)"
        ]

    def test_nested_duplicate_names_the_dotted_key_not_the_value(self, tmp_path: Path) -> None:
        """A key repeated inside a section names its dotted path; values are never echoed."""
        path = write(tmp_path, "s3:\n  secret_access_key: zzfirstzz\n  secret_access_key: zzsecondzz\n")
        lines = problem_lines(path)
        assert lines == [
            f"{path}: s3.secret_access_key: given twice, on lines 2 and 3; keep one "
            "(YAML would silently keep only the last)"
        ]
        assert "zz" not in "\n".join(lines)

    def test_merge_keys_may_be_overridden(self, tmp_path: Path) -> None:
        """A key merged in with << may be overridden, as YAML intends."""
        text = "base: &b\n  region: a\ns3:\n  <<: *b\n  region: b\n"
        # 'base' is not a section: the error is about it, not about a duplicate.
        assert "given twice" not in "\n".join(problem_lines(write(tmp_path, text)))


class TestBounds:
    @pytest.mark.parametrize("value", ["P1Y", "301", "PT6M"])
    def test_backoff_has_an_upper_bound(self, tmp_path: Path, value: str) -> None:
        """A base backoff above five minutes is refused (it doubles each retry)."""
        path = write(tmp_path, f"s3:\n  backoff: {value}\n")
        assert problem_lines(path) == [
            f"{path}: s3.backoff: must be at most 300 seconds (PT5M); the delay doubles each retry"
        ]

    def test_backoff_bound_is_inclusive(self) -> None:
        """Five minutes itself is accepted."""
        assert S3Config(backoff=300).backoff.total_seconds() == 300

    def test_azure_key_must_be_base64(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A non-base64 account key fails at validation, without echoing it."""
        monkeypatch.setenv("FLYTE_AZURE_STORAGE_ACCOUNT_KEY", "not-base64-zzsecretzz")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "FLYTE_AZURE_STORAGE_ACCOUNT_KEY: azure.account_key: must be the storage account's base64 "
            "access key (Azure portal, Access keys); for a shared access signature use sas_token"
        )

    @pytest.mark.parametrize(
        "given", [{"tenant_id": "t"}, {"client_id": "c"}, {"tenant_id": "t", "client_secret": "s"}]
    )
    def test_incomplete_service_principal_is_an_error(self, given: dict[str, str]) -> None:
        """tenant_id and client_id go together; a client_secret needs both."""
        with pytest.raises(ConfigError, match="a service principal needs tenant_id and client_id"):
            DataConfig.auto(azure=given)

    def test_workload_identity_needs_no_secret(self) -> None:
        """tenant_id and client_id without a secret are a complete (workload identity) principal."""
        assert DataConfig.auto(azure={"tenant_id": "t", "client_id": "c"}).azure.client_id == "c"


class TestEnvironmentAsRendered:
    @pytest.mark.parametrize(
        "var",
        ["FLYTE_AWS_ENDPOINT", "FLYTE_AWS_RETRIES", "FLYTE_AWS_ACCESS_KEY_ID", "PERSIST_S3__ENDPOINT"],
    )
    @pytest.mark.parametrize("value", ["", "   "])
    def test_empty_variable_means_unset(self, monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
        """Helm renders unset values as empty strings: they are ignored, and reported as such."""
        monkeypatch.setenv(var, value)
        loaded = resolve(DataConfig, default_sources(DataConfig))
        assert loaded.config == DataConfig()
        assert loaded.ignored == [var]

    def test_empty_variable_does_not_hide_the_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """FLYTE_AWS_ENDPOINT= leaves the file's endpoint in force."""
        monkeypatch.setenv("FLYTE_AWS_ENDPOINT", "")
        path = write(tmp_path, "s3:\n  endpoint: http://file:1\n", "p.yaml")
        assert DataConfig.auto(path).s3.endpoint == "http://file:1"

    def test_empty_config_variable_is_unset(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """PERSIST_CONFIG= falls through to FLYTECTL_CONFIG, which flytectl demo tells users to export."""
        monkeypatch.setenv("PERSIST_CONFIG", " ")
        monkeypatch.setenv("FLYTECTL_CONFIG", str(write(tmp_path, stow("s3", "region: ctl"))))
        loaded = resolve(DataConfig, default_sources(DataConfig))
        assert loaded.config.s3.region == "ctl"
        assert loaded.ignored == ["PERSIST_CONFIG"]

    def test_persist_config_wins_over_flytectl_config(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """PERSIST_CONFIG names the file first; FLYTECTL_CONFIG only when it is unset."""
        monkeypatch.setenv("PERSIST_CONFIG", str(write(tmp_path, "s3:\n  region: mine\n", "p.yaml")))
        monkeypatch.setenv("FLYTECTL_CONFIG", str(write(tmp_path, stow("s3", "region: ctl"))))
        assert DataConfig.auto().s3.region == "mine"

    def test_flytectl_config_named_in_errors(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A missing file named by FLYTECTL_CONFIG says which variable named it."""
        monkeypatch.setenv("FLYTECTL_CONFIG", str(tmp_path / "missing.yaml"))
        with pytest.raises(ConfigError, match=r"\(named by FLYTECTL_CONFIG\)$"):
            DataConfig.auto()

    @pytest.mark.parametrize(
        ("var", "value", "section", "name", "expected"),
        [
            ("FLYTE_AWS_ADDRESSING_STYLE", "Path", "s3", "addressing_style", "path"),
            ("PERSIST_S3__ADDRESSING_STYLE", "VIRTUAL", "s3", "addressing_style", "virtual"),
            ("PERSIST_GENERIC__ENGINE", "ObStore", "generic", "engine", "obstore"),
        ],
    )
    def test_enumerations_are_case_insensitive(
        self, monkeypatch: pytest.MonkeyPatch, var: str, value: str, section: str, name: str, expected: str
    ) -> None:
        """Enumerations take any case, as botocore does; the canonical value is stored."""
        monkeypatch.setenv(var, value)
        assert getattr(getattr(DataConfig.auto(), section), name) == expected

    def test_schema_lists_canonical_values(self) -> None:
        """The JSON Schema still lists the lower-case values."""
        schema = S3Config.model_json_schema()
        assert schema["properties"]["addressing_style"]["enum"] == ["auto", "virtual", "path"]


def test_stow_values_are_strings(tmp_path: Path) -> None:
    """stow's config is a map of strings: a numeric key id or project is read as its text."""
    path = write(tmp_path, stow("google", "project_id: 123456"))
    assert DataConfig.from_yaml(path).gcs.project == "123456"
