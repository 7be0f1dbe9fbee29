"""Translation of config models into fsspec storage options and per-call kwargs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import persist
from persist.config import (
    AzureBlobStorageConfig,
    DataConfig,
    GCSConfig,
    GenericPersistenceConfig,
    S3Config,
)
from persist.options import (
    AZURE_PROTOCOLS,
    CONFIGURED_PROTOCOLS,
    FILE_PROTOCOLS,
    GCS_ENDPOINT_CONTROL_RETRY_SECONDS,
    GCS_PROTOCOLS,
    S3_PROTOCOLS,
    azure_setup_args,
    gcs_setup_args,
    get_additional_fsspec_call_kwargs,
    get_fsspec_storage_options,
    s3_setup_args,
)

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# --------------------------------------------------------------------------------------------
# S3

S3_CASES: dict[str, Any] = {
    "argnames": ("s3", "expected"),
    "argvalues": [
        pytest.param(S3Config(), {"cache_regions": True}, id="nothing-configured"),
        pytest.param(S3Config(access_key_id="AKID"), {"cache_regions": True, "key": "AKID"}, id="key"),
        pytest.param(
            S3Config(secret_access_key=SecretStr("sek")),
            {"cache_regions": True, "secret": "sek"},
            id="secret",
        ),
        pytest.param(
            S3Config(session_token=SecretStr("tok")), {"cache_regions": True, "token": "tok"}, id="token"
        ),
        pytest.param(
            S3Config(endpoint="http://127.0.0.1:5000"),
            {"cache_regions": True, "client_kwargs": {"endpoint_url": "http://127.0.0.1:5000"}},
            id="endpoint",
        ),
        pytest.param(
            S3Config(region="eu-west-1"),
            {"cache_regions": True, "client_kwargs": {"region_name": "eu-west-1"}},
            id="region",
        ),
        pytest.param(
            S3Config(addressing_style="path"),
            {"cache_regions": True, "config_kwargs": {"s3": {"addressing_style": "path"}}},
            id="addressing-path",
        ),
        pytest.param(
            S3Config(addressing_style="virtual"),
            {"cache_regions": True, "config_kwargs": {"s3": {"addressing_style": "virtual"}}},
            id="addressing-virtual",
        ),
        pytest.param(
            S3Config(addressing_style="auto"),
            {"cache_regions": True, "config_kwargs": {"s3": {"addressing_style": "auto"}}},
            id="addressing-auto-explicit",
        ),
        pytest.param(
            S3Config(retries=2),
            {
                "cache_regions": True,
                "config_kwargs": {"retries": {"total_max_attempts": 3, "mode": "standard"}},
            },
            id="retries",
        ),
        pytest.param(
            S3Config(retries=0),
            {
                "cache_regions": True,
                "config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}},
            },
            id="retries-zero",
        ),
        pytest.param(
            S3Config(
                endpoint="https://minio:9000",
                access_key_id="AKID",
                secret_access_key=SecretStr("sek"),
                session_token=SecretStr("tok"),
                region="us-east-1",
                addressing_style="path",
                retries=4,
            ),
            {
                "cache_regions": True,
                "key": "AKID",
                "secret": "sek",
                "token": "tok",
                "client_kwargs": {"endpoint_url": "https://minio:9000", "region_name": "us-east-1"},
                "config_kwargs": {
                    "s3": {"addressing_style": "path"},
                    "retries": {"total_max_attempts": 5, "mode": "standard"},
                },
            },
            id="everything",
        ),
    ],
}
"""S3 sections and the exact s3fs options each one gives."""


class TestS3:
    @pytest.mark.parametrize(**S3_CASES)
    def test_s3_options(self, s3: S3Config, expected: dict[str, Any]) -> None:
        """Each configured S3 field reaches s3fs under its own key, and nothing else is added."""
        assert s3_setup_args(s3) == expected

    def test_configured_addressing_style_is_used(self) -> None:
        """The configured style reaches botocore; flytekit always wrote "virtual" whatever was
        configured, which broke path-style stores such as MinIO and moto behind plain hosts.
        See flytekit's data_persistence.s3_setup_args (config_kwargs addressing_style "virtual")."""
        options = s3_setup_args(S3Config(addressing_style="path"))
        assert options["config_kwargs"]["s3"]["addressing_style"] == "path"

    def test_anonymous_adds_anon(self) -> None:
        """anonymous=True adds anon=True next to the configured options."""
        options = s3_setup_args(S3Config(endpoint="http://a:1"), anonymous=True)
        assert options == {
            "cache_regions": True,
            "client_kwargs": {"endpoint_url": "http://a:1"},
            "anon": True,
        }

    def test_not_anonymous_sets_no_anon(self) -> None:
        """By default no anon key is sent, so s3fs keeps its own credential lookup."""
        assert "anon" not in s3_setup_args(S3Config(), anonymous=False)

    def test_results_are_fresh_dicts(self) -> None:
        """Changing a result does not change the next one (no shared nested dicts)."""
        s3 = S3Config(endpoint="http://a:1")
        first = s3_setup_args(s3)
        first["client_kwargs"]["endpoint_url"] = "http://changed:1"
        assert s3_setup_args(s3)["client_kwargs"] == {"endpoint_url": "http://a:1"}


# --------------------------------------------------------------------------------------------
# Azure

AZURE_CASES: dict[str, Any] = {
    "argnames": ("azure", "expected"),
    "argvalues": [
        pytest.param(AzureBlobStorageConfig(), {"anon": False}, id="nothing-configured"),
        pytest.param(
            AzureBlobStorageConfig(account_name="acct", account_key=SecretStr("a2V5")),
            {"account_name": "acct", "account_key": "a2V5", "anon": False},
            id="account-key",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                account_name="acct", tenant_id="t", client_id="c", client_secret=SecretStr("cs")
            ),
            {
                "account_name": "acct",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": "cs",
                "anon": False,
            },
            id="service-principal",
        ),
        pytest.param(
            AzureBlobStorageConfig(account_name="acct", sas_token=SecretStr("?sv=1&sig=x")),
            {"account_name": "acct", "sas_token": "?sv=1&sig=x", "anon": False},
            id="sas",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                connection_string=SecretStr("DefaultEndpointsProtocol=https;AccountName=a;")
            ),
            {"connection_string": "DefaultEndpointsProtocol=https;AccountName=a;", "anon": False},
            id="connection-string",
        ),
        pytest.param(
            AzureBlobStorageConfig(account_name="acct", account_host="acct.blob.core.chinacloudapi.cn"),
            {"account_name": "acct", "account_host": "acct.blob.core.chinacloudapi.cn", "anon": False},
            id="host-plain",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                account_name="acct", account_host="https://acct.blob.core.usgovcloudapi.net/"
            ),
            {"account_name": "acct", "account_host": "acct.blob.core.usgovcloudapi.net", "anon": False},
            id="host-https-url",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                account_name="devstoreaccount1",
                account_key=SecretStr(AZURITE_KEY),
                account_host="http://127.0.0.1:10000",
            ),
            {
                "account_name": "devstoreaccount1",
                "account_key": AZURITE_KEY,
                "connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
                "anon": False,
            },
            id="host-http-emulator-account-appended",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                account_name="devstoreaccount1",
                account_key=SecretStr(AZURITE_KEY),
                account_host="http://127.0.0.1:10000/devstoreaccount1/",
            ),
            {
                "account_name": "devstoreaccount1",
                "account_key": AZURITE_KEY,
                "connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
                "anon": False,
            },
            id="host-http-emulator-account-given",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                account_name="acct", sas_token=SecretStr("?sv=1&sig=x"), account_host="http://127.0.0.1:10000"
            ),
            {
                "account_name": "acct",
                "sas_token": "?sv=1&sig=x",
                "connection_string": "DefaultEndpointsProtocol=http;AccountName=acct;"
                "BlobEndpoint=http://127.0.0.1:10000/acct;SharedAccessSignature=sv=1&sig=x;",
                "anon": False,
            },
            id="host-http-emulator-sas",
        ),
        pytest.param(
            AzureBlobStorageConfig(
                account_name="acct",
                account_host="http://127.0.0.1:10000",
                connection_string=SecretStr("UseDevelopmentStorage=true"),
            ),
            {"account_name": "acct", "connection_string": "UseDevelopmentStorage=true", "anon": False},
            id="explicit-connection-string-wins",
        ),
    ],
}
"""Azure sections and the exact adlfs options each one gives."""


class TestAzure:
    @pytest.mark.parametrize(**AZURE_CASES)
    def test_azure_options(self, azure: AzureBlobStorageConfig, expected: dict[str, Any]) -> None:
        """Each Azure setup gives adlfs exactly the keys it needs."""
        assert azure_setup_args(azure) == expected

    def test_anonymous(self) -> None:
        """anonymous=True sets anon=True; adlfs then sends no credentials."""
        assert azure_setup_args(AzureBlobStorageConfig(account_name="acct"), anonymous=True) == {
            "account_name": "acct",
            "anon": True,
        }


# --------------------------------------------------------------------------------------------
# GCS

GCS_CASES: dict[str, Any] = {
    "argnames": ("gcs", "anonymous", "expected"),
    "argvalues": [
        pytest.param(GCSConfig(), False, {}, id="nothing-configured"),
        pytest.param(GCSConfig(), True, {"token": "anon"}, id="anonymous"),
        pytest.param(
            GCSConfig(token="/secrets/sa.json"), False, {"token": "/secrets/sa.json"}, id="token-path"
        ),
        pytest.param(
            GCSConfig(token="/secrets/sa.json"), True, {"token": "anon"}, id="anonymous-beats-token"
        ),
        pytest.param(GCSConfig(project="proj"), False, {"project": "proj"}, id="project"),
        pytest.param(
            GCSConfig(endpoint="http://127.0.0.1:4443"),
            False,
            {"endpoint_url": "http://127.0.0.1:4443", "retry_timeout": GCS_ENDPOINT_CONTROL_RETRY_SECONDS},
            id="endpoint",
        ),
        pytest.param(
            GCSConfig(requester_pays=True, project="billing"),
            False,
            {"project": "billing", "requester_pays": True},
            id="requester-pays",
        ),
        pytest.param(GCSConfig(gsutil_parallelism=True), False, {}, id="gsutil-parallelism-is-not-an-option"),
    ],
}
"""GCS sections and the exact gcsfs options each one gives."""


class TestGCS:
    @pytest.mark.parametrize(**GCS_CASES)
    def test_gcs_options(self, gcs: GCSConfig, anonymous: bool, expected: dict[str, Any]) -> None:
        """Each configured GCS field reaches gcsfs under gcsfs's name for it."""
        assert gcs_setup_args(gcs, anonymous=anonymous) == expected


# --------------------------------------------------------------------------------------------
# get_fsspec_storage_options

CONFIGURED = DataConfig(
    s3=S3Config(endpoint="http://s3:1", access_key_id="AKID"),
    gcs=GCSConfig(project="proj"),
    azure=AzureBlobStorageConfig(account_name="acct"),
)

S3_LIMITS = {"config_kwargs": {"connect_timeout": 10.0, "read_timeout": 60.0}}
"""What the default generic.connect_timeout and read_timeout add to S3 options."""
AZURE_LIMITS = {"connection_timeout": 10, "read_timeout": 60}
"""What the default generic.connect_timeout and read_timeout add to Azure options."""

PROTOCOL_CASES: dict[str, Any] = {
    "argnames": ("protocol", "expected"),
    "argvalues": [
        ("file", {"auto_mkdir": True}),
        ("local", {"auto_mkdir": True}),
        (
            "s3",
            {
                "cache_regions": True,
                "key": "AKID",
                "client_kwargs": {"endpoint_url": "http://s3:1"},
                **S3_LIMITS,
            },
        ),
        (
            "s3a",
            {
                "cache_regions": True,
                "key": "AKID",
                "client_kwargs": {"endpoint_url": "http://s3:1"},
                **S3_LIMITS,
            },
        ),
        ("gs", {"project": "proj"}),
        ("gcs", {"project": "proj"}),
        ("abfs", {"account_name": "acct", "anon": False, **AZURE_LIMITS}),
        ("abfss", {"account_name": "acct", "anon": False, **AZURE_LIMITS}),
        ("az", {"account_name": "acct", "anon": False, **AZURE_LIMITS}),
    ],
}
"""Every protocol persist configures and the options it gets from CONFIGURED."""


class TestStorageOptions:
    def test_every_known_protocol_has_a_row(self) -> None:
        """The protocol table covers every protocol in the options module's tuples."""
        known = {*S3_PROTOCOLS, *GCS_PROTOCOLS, *AZURE_PROTOCOLS, *FILE_PROTOCOLS}
        assert {row[0] for row in PROTOCOL_CASES["argvalues"]} == known

    def test_configured_protocols_are_the_known_ones(self) -> None:
        """CONFIGURED_PROTOCOLS (what ``persist options`` accepts) is every protocol with a row."""
        assert sorted(CONFIGURED_PROTOCOLS) == sorted(row[0] for row in PROTOCOL_CASES["argvalues"])

    @pytest.mark.parametrize(**PROTOCOL_CASES)
    def test_protocol_gets_its_backend_options(self, protocol: str, expected: dict[str, Any]) -> None:
        """Each protocol gets the options of its backend's section."""
        assert get_fsspec_storage_options(protocol, CONFIGURED) == expected

    @pytest.mark.parametrize("protocol", [row[0] for row in PROTOCOL_CASES["argvalues"]])
    def test_caller_kwargs_win(self, protocol: str) -> None:
        """Keyword arguments from the caller override configured options of the same name."""
        options = get_fsspec_storage_options(protocol, CONFIGURED, anon="caller", project="caller")
        assert (options["anon"], options["project"]) == ("caller", "caller")

    def test_unknown_protocol_keeps_caller_kwargs(self) -> None:
        """Any other protocol gets the caller's kwargs unchanged; flytekit returned {} and dropped them."""
        assert get_fsspec_storage_options("sftp", CONFIGURED, host="h", port=22) == {"host": "h", "port": 22}

    def test_unknown_protocol_without_kwargs_is_empty(self) -> None:
        """Any other protocol with no kwargs gets an empty dict."""
        assert get_fsspec_storage_options("memory", CONFIGURED) == {}

    def test_anonymous_is_passed_on(self) -> None:
        """anonymous=True reaches the backend's translation function."""
        assert get_fsspec_storage_options("s3", None, anonymous=True) == {
            "cache_regions": True,
            "anon": True,
            **S3_LIMITS,
        }
        assert get_fsspec_storage_options("gs", None, anonymous=True) == {"token": "anon"}
        assert get_fsspec_storage_options("abfs", None, anonymous=True) == {"anon": True, **AZURE_LIMITS}

    def test_no_config_means_defaults_and_no_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """data_config=None means DataConfig(): PERSIST_ and FLYTE_ variables are not read."""
        monkeypatch.setenv("PERSIST_S3__ENDPOINT", "http://env:1")
        monkeypatch.setenv("FLYTE_AWS_ACCESS_KEY_ID", "env-key")
        monkeypatch.setenv("PERSIST_AZURE__ACCOUNT_NAME", "env-acct")
        config_file = tmp_path / "c.yaml"
        config_file.write_text("gcs:\n  project: file-project\n", encoding="utf-8")
        monkeypatch.setenv("PERSIST_CONFIG", str(config_file))
        assert get_fsspec_storage_options("s3") == {"cache_regions": True, **S3_LIMITS}
        assert get_fsspec_storage_options("gs") == {}
        assert get_fsspec_storage_options("abfs") == {"anon": False, **AZURE_LIMITS}


# --------------------------------------------------------------------------------------------
# get_additional_fsspec_call_kwargs

CHUNKED = DataConfig(generic=GenericPersistenceConfig(write_chunk_size_bytes=8 * 1024 * 1024))

CALL_KWARGS_CASES: dict[str, Any] = {
    "argnames": ("protocol", "method", "expected"),
    "argvalues": [
        ("s3", "put", {"chunksize": 8 * 1024 * 1024}),
        ("s3a", "put", {"chunksize": 8 * 1024 * 1024}),
        ("gs", "put", {"chunksize": 8 * 1024 * 1024}),
        ("gcs", "put", {"chunksize": 8 * 1024 * 1024}),
        (("s3", "s3a"), "put", {"chunksize": 8 * 1024 * 1024}),
        (("gs", "gcs"), "_put", {"chunksize": 8 * 1024 * 1024}),
        ("s3", "_put", {"chunksize": 8 * 1024 * 1024}),
        ("s3", "put_", {"chunksize": 8 * 1024 * 1024}),
        ("s3", "get", {}),
        ("s3", "_get", {}),
        ("gs", "get", {}),
        ("s3", "put_file", {}),
        ("abfs", "put", {}),
        (("abfs", "az"), "put", {}),
        ("file", "put", {}),
        ("memory", "put", {}),
    ],
}
"""Protocol, fsspec method, and the extra kwargs persist adds to the call."""


class TestCallKwargs:
    @pytest.mark.parametrize(**CALL_KWARGS_CASES)
    def test_call_kwargs(
        self, protocol: str | tuple[str, ...], method: str, expected: dict[str, Any]
    ) -> None:
        """Only put on S3 or GCS gets the configured multipart chunk size."""
        assert get_additional_fsspec_call_kwargs(protocol, method, CHUNKED) == expected

    def test_default_chunk_size(self) -> None:
        """Without a config, put gets the default chunk size of 25 MiB."""
        assert get_additional_fsspec_call_kwargs("s3", "put") == {"chunksize": 25 * 1024 * 1024}


# --------------------------------------------------------------------------------------------
# Where secrets are unwrapped


def test_secrets_are_unwrapped_only_in_the_translation_modules() -> None:
    """get_secret_value() appears in options.py and _plan.py (persist's own engines), nowhere else."""
    package = Path(persist.__file__).parent
    users = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"\bget_secret_value\b", path.read_text(encoding="utf-8"))
    )
    assert users == ["_plan.py", "options.py"]


# --------------------------------------------------------------------------------------------
# timeouts in every client's terms


class TestTimeouts:
    LIMITS = GenericPersistenceConfig(connect_timeout=2, read_timeout=7.5)

    def test_s3_gets_botocore_connect_and_read_timeouts(self) -> None:
        """botocore's read_timeout is a limit per read (aiohttp sock_read), not per request."""
        options = get_fsspec_storage_options("s3", DataConfig(generic=self.LIMITS))
        assert options["config_kwargs"] == {"connect_timeout": 2.0, "read_timeout": 7.5}

    def test_s3_timeouts_sit_beside_retries_and_addressing(self) -> None:
        s3 = S3Config(retries=0, addressing_style="path")
        options = get_fsspec_storage_options("s3", DataConfig(s3=s3, generic=self.LIMITS))
        assert options["config_kwargs"] == {
            "s3": {"addressing_style": "path"},
            "retries": {"total_max_attempts": 1, "mode": "standard"},
            "connect_timeout": 2.0,
            "read_timeout": 7.5,
        }

    def test_flytekit_style_call_leaves_botocore_defaults(self) -> None:
        """s3_setup_args(cfg) without timeouts gives what flytekit's call gave."""
        assert s3_setup_args(S3Config()) == {"cache_regions": True}

    def test_azure_gets_whole_seconds_of_at_least_one(self) -> None:
        config = DataConfig(
            azure=AzureBlobStorageConfig(account_name="a"),
            generic=GenericPersistenceConfig(connect_timeout=0.2, read_timeout=7.5),
        )
        options = get_fsspec_storage_options("abfs", config)
        assert (options["connection_timeout"], options["read_timeout"]) == (1, 8)

    def test_gcs_gets_per_read_limits_not_a_total(self) -> None:
        """A total limit would cut long healthy transfers; gcsfs gets connect and sock_read."""
        limit = gcs_setup_args(GCSConfig(), timeouts=self.LIMITS)["requests_timeout"]
        assert (limit.total, limit.connect, limit.sock_connect, limit.sock_read) == (None, 2.0, 2.0, 7.5)

    def test_gcs_storage_options_stay_plain_json(self) -> None:
        """The shared options hold no aiohttp object (persist options prints them as JSON)."""
        assert "requests_timeout" not in get_fsspec_storage_options("gs", DataConfig(generic=self.LIMITS))
