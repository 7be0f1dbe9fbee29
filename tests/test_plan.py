"""The plan: how a path is served (engine, store arguments, retry budget, part size), purely."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

import persist.options
from persist import _fs
from persist._plan import (
    AZURE_MAX_BLOCKS,
    S3_MAX_PARTS,
    RetryBudget,
    choose_engine,
    endpoint_host,
    obstore_part_size,
    obstore_setup_args,
    plan_for,
    upload_part_size,
)
from persist.config import (
    AzureBlobStorageConfig,
    DataConfig,
    GCSConfig,
    GenericPersistenceConfig,
    MiB,
    S3Config,
)
from persist.options import get_additional_fsspec_call_kwargs

OBSTORE_LIMITS = {
    "connect_timeout": timedelta(seconds=10),
    "read_timeout": timedelta(seconds=60),
    "timeout": timedelta(hours=24),
}
"""obstore client options from the default timeouts: a per-read limit, the total one far off."""

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


# --------------------------------------------------------------------------------------------
# The engine's choice and the obstore store arguments

KEYS = S3Config(access_key_id="AK", secret_access_key=SecretStr("SK"))
LOCAL_S3 = S3Config(
    endpoint="http://127.0.0.1:9000",
    access_key_id="AK",
    secret_access_key=SecretStr("SK"),
    addressing_style="path",
)


def _engine(engine: str) -> GenericPersistenceConfig:
    return GenericPersistenceConfig(engine=engine)  # type: ignore[arg-type]


class TestChooseEngine:
    @pytest.mark.parametrize(
        ("protocol", "config", "anonymous", "expected"),
        [
            pytest.param("s3", DataConfig(s3=LOCAL_S3), False, "obstore", id="s3-keys-and-endpoint"),
            pytest.param(
                "s3",
                DataConfig(s3=KEYS.model_copy(update={"region": "eu-west-1"})),
                False,
                "obstore",
                id="s3-keys-and-region",
            ),
            pytest.param("s3", DataConfig(s3=KEYS), False, "fsspec", id="s3-keys-region-unknown"),
            pytest.param("s3", DataConfig(), False, "fsspec", id="s3-credential-chain"),
            pytest.param(
                "s3",
                DataConfig(s3=S3Config(region="eu-west-1")),
                True,
                "obstore",
                id="s3-anonymous-region-known",
            ),
            pytest.param("s3", DataConfig(), True, "fsspec", id="s3-anonymous-region-unknown"),
            pytest.param("abfs", DataConfig(), True, "obstore", id="azure-anonymous"),
            pytest.param(
                "s3",
                DataConfig(s3=S3Config(endpoint="http://127.0.0.1:9000", access_key_id="AK")),
                False,
                "fsspec",
                id="s3-key-without-secret",
            ),
            pytest.param(
                "abfs",
                DataConfig(azure=AzureBlobStorageConfig(account_name="a", account_key=SecretStr("a2V5"))),
                False,
                "obstore",
                id="azure-account-key",
            ),
            pytest.param(
                "az",
                DataConfig(azure=AzureBlobStorageConfig(account_name="a", sas_token=SecretStr("sv=1"))),
                False,
                "obstore",
                id="azure-sas",
            ),
            pytest.param(
                "abfs",
                DataConfig(azure=AzureBlobStorageConfig(account_name="a")),
                False,
                "fsspec",
                id="azure-cli-login",
            ),
            pytest.param(
                "gs", DataConfig(generic=_engine("obstore")), False, "fsspec", id="gcs-always-fsspec"
            ),
            pytest.param(
                "file", DataConfig(generic=_engine("obstore")), False, "fsspec", id="local-always-fsspec"
            ),
            pytest.param("s3", DataConfig(generic=_engine("obstore")), False, "obstore", id="forced-obstore"),
            pytest.param(
                "s3", DataConfig(s3=LOCAL_S3, generic=_engine("fsspec")), False, "fsspec", id="forced-fsspec"
            ),
        ],
    )
    def test_choice(self, protocol: str, config: DataConfig, anonymous: bool, expected: str) -> None:
        """auto takes obstore only when it can authenticate and reach the bucket by itself."""
        assert choose_engine(protocol, config, anonymous) == expected


class TestObstoreSetupArgs:
    def test_s3_compatible_store(self) -> None:
        """Keys, endpoint, path addressing, http allowed, checksums on, retries from the config."""
        args = obstore_setup_args("s3", DataConfig(s3=LOCAL_S3.model_copy(update={"retries": 5})))
        assert args["config"] == {
            "endpoint": "http://127.0.0.1:9000",
            "access_key_id": "AK",
            "secret_access_key": "SK",
            "region": "us-east-1",
            "virtual_hosted_style_request": False,
            "checksum_algorithm": "sha256",
        }
        assert args["client_options"] == {"allow_http": True, **OBSTORE_LIMITS}
        assert args["retry_config"]["max_retries"] == 5
        assert args["retry_config"]["backoff"]["init_backoff"] == timedelta(seconds=5)

    def test_s3_session_token_region_and_virtual_addressing(self) -> None:
        s3 = KEYS.model_copy(update={"session_token": SecretStr("TOK"), "region": "eu-west-1"})
        config = obstore_setup_args("s3", DataConfig(s3=s3))["config"]
        assert config["session_token"] == "TOK"
        assert config["region"] == "eu-west-1"
        assert config["virtual_hosted_style_request"] is True

    def test_checksum_off_and_anonymous_send_none(self) -> None:
        off = LOCAL_S3.model_copy(update={"upload_checksum": False})
        assert "checksum_algorithm" not in obstore_setup_args("s3", DataConfig(s3=off))["config"]
        anonymous = obstore_setup_args("s3", DataConfig(s3=LOCAL_S3), anonymous=True)["config"]
        assert anonymous["skip_signature"] is True
        assert "checksum_algorithm" not in anonymous

    def test_azurite_account_host_gets_the_account_path(self) -> None:
        azure = AzureBlobStorageConfig(
            account_name="devstoreaccount1",
            account_key=SecretStr(AZURITE_KEY),
            account_host="http://127.0.0.1:10000",
        )
        args = obstore_setup_args("abfs", DataConfig(azure=azure))
        assert args["config"] == {
            "account_name": "devstoreaccount1",
            "account_key": AZURITE_KEY,
            "endpoint": "http://127.0.0.1:10000/devstoreaccount1",
        }
        assert args["client_options"] == {"allow_http": True, **OBSTORE_LIMITS}

    def test_azure_connection_string_and_sas(self) -> None:
        text = "DefaultEndpointsProtocol=http;AccountName=acc;AccountKey=KK;BlobEndpoint=http://127.0.0.1:10000/acc;"
        from_string = obstore_setup_args(
            "az", DataConfig(azure=AzureBlobStorageConfig(connection_string=SecretStr(text)))
        )
        assert from_string["config"] == {
            "account_name": "acc",
            "account_key": "KK",
            "endpoint": "http://127.0.0.1:10000/acc",
        }
        sas = AzureBlobStorageConfig(account_name="acc", sas_token=SecretStr("?sv=1&sig=x"))
        assert obstore_setup_args("abfs", DataConfig(azure=sas))["config"] == {
            "account_name": "acc",
            "sas_key": "sv=1&sig=x",
        }

    def test_other_protocols_are_refused(self) -> None:
        with pytest.raises(ValueError, match="use the fsspec engine"):
            obstore_setup_args("gs", DataConfig())


class TestObstorePartSize:
    def test_unset_uses_the_obstore_default_while_fsspec_keeps_flytekits(self) -> None:
        config = DataConfig()
        assert obstore_part_size(config) == 8 * 1024 * 1024
        assert get_additional_fsspec_call_kwargs("s3", "put", config) == {"chunksize": 25 * 1024 * 1024}

    @pytest.mark.parametrize("size", [5 * 1024 * 1024, 25 * 1024 * 1024, 64 * 1024 * 1024])
    def test_a_configured_size_is_used_as_given(self, size: int) -> None:
        """Even a size equal to the field's default counts: the user chose it."""
        config = DataConfig(generic=GenericPersistenceConfig(write_chunk_size_bytes=size))
        assert obstore_part_size(config) == size

    def test_legacy_variable_counts_as_set(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("_F_P_WRITE_CHUNK_SIZE", str(25 * 1024 * 1024))
        assert obstore_part_size(DataConfig.auto()) == 25 * 1024 * 1024


class TestUploadPartSize:
    """A file too large for the store's part limit at the configured size gets larger parts."""

    @pytest.mark.parametrize("max_parts", [S3_MAX_PARTS, AZURE_MAX_BLOCKS])
    def test_the_configured_size_while_the_limit_holds_the_file(self, max_parts: int) -> None:
        for size in (0, 1, 8 * MiB, 8 * MiB + 1, max_parts * 8 * MiB):
            assert upload_part_size(size, 8 * MiB, max_parts) == 8 * MiB

    @pytest.mark.parametrize("max_parts", [S3_MAX_PARTS, AZURE_MAX_BLOCKS])
    @pytest.mark.parametrize("extra", [1, 100 * 2**30, 5 * 2**40, 5 * 2**40 + 7])
    def test_the_smallest_whole_mib_that_fits_past_it(self, max_parts: int, extra: int) -> None:
        size = max_parts * 8 * MiB + extra
        part = upload_part_size(size, 8 * MiB, max_parts)
        assert part > 8 * MiB
        assert part % MiB == 0
        assert -(-size // part) <= max_parts
        assert -(-size // (part - MiB)) > max_parts

    def test_s3s_largest_object_stays_under_its_part_limit(self) -> None:
        assert upload_part_size(5 * 2**40, 8 * MiB, S3_MAX_PARTS) == 525 * MiB


# --------------------------------------------------------------------------------------------
# The plan


AZURE_KEYS = AzureBlobStorageConfig(account_name="acc", account_key=SecretStr(AZURITE_KEY))


class TestPlan:
    def test_local_paths_use_the_local_backend_without_retries_or_fallback(self) -> None:
        """The local disk: no retries, no anonymous fallback, nothing to translate."""
        plan = plan_for(DataConfig(generic=_engine("obstore")), "file")
        assert (plan.engine, plan.retry.retries, plan.anonymous_fallback) == ("local", 0, False)
        assert plan.fs_options == {}

    @pytest.mark.parametrize("engine", ["fsspec", "obstore"])
    def test_s3_budget_is_s3_retries_on_both_engines(self, engine: str) -> None:
        """s3.retries / s3.backoff are S3's one budget; the clients underneath make one attempt."""
        config = DataConfig(
            s3=LOCAL_S3.model_copy(update={"retries": 7, "backoff": timedelta(seconds=2)}),
            generic=_engine(engine),
        )
        plan = plan_for(config, "s3")
        assert plan.engine == engine
        assert plan.retry == RetryBudget(retries=7, backoff=2.0)
        assert plan.fs_options["config_kwargs"]["retries"] == {"total_max_attempts": 1, "mode": "standard"}
        assert plan.fs_tune == {"retries": 1}
        if engine == "obstore":
            assert plan.store_args["retry_config"]["max_retries"] == 0

    def test_legacy_retries_variable_keeps_its_meaning_for_s3(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """FLYTE_AWS_RETRIES sets S3's budget, and only S3's."""
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "6")
        config = DataConfig.auto()
        assert plan_for(config, "s3").retry.retries == 6
        assert plan_for(config.model_copy(update={"azure": AZURE_KEYS}), "abfs").retry.retries == 3

    def test_azure_budget_is_azure_retries_not_s3s(self) -> None:
        """Through obstore Azure retries with azure.retries / azure.backoff; s3.* changes nothing."""
        azure = AZURE_KEYS.model_copy(update={"retries": 4, "backoff": timedelta(seconds=1)})
        plan = plan_for(DataConfig(azure=azure, s3=S3Config(retries=9)), "abfs")
        assert plan.engine == "obstore"
        assert plan.retry == RetryBudget(retries=4, backoff=1.0)
        assert plan.store_args["retry_config"]["max_retries"] == 0

    def test_azure_budget_governs_adlfs_too(self) -> None:
        """persist's adlfs client makes one attempt per call, so azure.retries applies there too."""
        azure = AZURE_KEYS.model_copy(update={"retries": 4})
        plan = plan_for(DataConfig(azure=azure, generic=_engine("fsspec")), "abfs")
        assert (plan.engine, plan.retry.retries) == ("fsspec", 4)
        assert plan.fs_tune[_fs.AZURE_CLIENT_OPTIONS]["retry_total"] == 0

    def test_gcs_budget_governs_single_attempt_gcsfs(self) -> None:
        """persist's gcsfs makes one attempt per call, so gcs.retries (not s3's) is the budget."""
        plan = plan_for(DataConfig(gcs=GCSConfig(retries=2, backoff=0.5), s3=S3Config(retries=9)), "gs")
        assert plan.retry == RetryBudget(retries=2, backoff=0.5)
        assert plan.fs_tune == {_fs.GCS_SINGLE_ATTEMPT: True}

    def test_gcsfs_instance_sends_each_request_once(self) -> None:
        """persist's own gcsfs has gcsfs's retry decorators off; a gcsfs built elsewhere keeps them."""
        import gcsfs

        ours = _fs.build_filesystem(
            "gs", {"token": "anon", "project": "p"}, tune={_fs.GCS_SINGLE_ATTEMPT: True}
        )
        theirs = gcsfs.GCSFileSystem(token="anon", project="p", skip_instance_cache=True)
        names = [n for n in _fs._GCSFS_RETRYING if hasattr(gcsfs.GCSFileSystem, n)]
        assert "_request" in names  # every gcsfs persist allows has it
        for name in names:
            decorated = getattr(gcsfs.GCSFileSystem, name)
            assert getattr(ours, name).__func__ is decorated.__wrapped__
            assert getattr(theirs, name).__func__ is decorated

    def test_caller_put_kwargs_choose_fsspec(self) -> None:
        """Caller kwargs are s3fs put arguments: only the fsspec engine understands them."""
        plan = plan_for(DataConfig(s3=LOCAL_S3), "s3", put_kwargs={"ACL": "private"})
        assert plan.engine == "fsspec"
        assert plan.put_kwargs == {"chunksize": 25 * MiB, "ACL": "private"}

    def test_gcs_uploads_without_chunk_size_unless_set(self) -> None:
        """Unset, GCS plans pass no chunksize (one streamed request); set anywhere, gcsfs gets it."""
        assert plan_for(DataConfig(), "gs").put_kwargs == {}
        chosen = DataConfig(generic=GenericPersistenceConfig(write_chunk_size_bytes=8 * MiB))
        assert plan_for(chosen, "gs").put_kwargs == {"chunksize": 8 * MiB}
        # Set to its default value, it is still set: gcsfs uploads in chunks of it.
        default = DataConfig(generic=GenericPersistenceConfig(write_chunk_size_bytes=25 * MiB))
        assert plan_for(default, "gcs").put_kwargs == {"chunksize": 25 * MiB}
        # S3's fsspec plan keeps flytekit's chunk size either way.
        assert plan_for(DataConfig(generic={"engine": "fsspec"}), "s3").put_kwargs == {"chunksize": 25 * MiB}

    def test_anonymous_plans_unsigned_access(self) -> None:
        plan = plan_for(DataConfig(s3=LOCAL_S3), "s3", anonymous=True)
        assert plan.fs_options["anon"] is True
        assert plan.store_args["config"]["skip_signature"] is True

    def test_a_plan_is_a_pure_function_of_its_arguments(self) -> None:
        """The same config and path give an equal plan; nothing is built or read."""
        config = DataConfig(s3=LOCAL_S3, generic=GenericPersistenceConfig(max_concurrency=3))
        assert plan_for(config, "s3") == plan_for(config, "s3")
        assert plan_for(config, "s3").concurrency == 3

    def test_debug_loggers_follow_enable_debug(self) -> None:
        assert plan_for(DataConfig(s3=S3Config(enable_debug=True)), "s3").debug_loggers
        assert not plan_for(DataConfig(), "s3").debug_loggers


def test_options_exports_only_translation() -> None:
    """options.__all__ holds the translation functions, protocol constants and TypedDicts only."""
    assert set(persist.options.__all__) == {
        "AZURE_PROTOCOLS",
        "CONFIGURED_PROTOCOLS",
        "FILE_PROTOCOLS",
        "GCS_ENDPOINT_CONTROL_RETRY_SECONDS",
        "GCS_PROTOCOLS",
        "S3_PROTOCOLS",
        "AzureOptions",
        "GCSOptions",
        "S3Options",
        "azure_setup_args",
        "gcs_setup_args",
        "get_additional_fsspec_call_kwargs",
        "get_fsspec_storage_options",
        "s3_setup_args",
    }


class TestTimeouts:
    LIMITS = GenericPersistenceConfig(connect_timeout=2, read_timeout=7.5)

    @pytest.mark.parametrize("protocol", ["s3", "abfs"])
    def test_obstore_gets_connect_and_read_timeouts(self, protocol: str) -> None:
        options = obstore_setup_args(protocol, DataConfig(generic=self.LIMITS))["client_options"]
        assert options["connect_timeout"] == timedelta(seconds=2)
        assert options["read_timeout"] == timedelta(seconds=7.5)
        assert options["timeout"] >= timedelta(hours=1)

    def test_persists_own_gcsfs_gets_the_limits(self) -> None:
        """Only persist's own GCS filesystem gets the aiohttp limits (the public options stay JSON)."""
        limit = plan_for(DataConfig(generic=self.LIMITS), "gs").fs_options["requests_timeout"]
        assert (limit.connect, limit.sock_read) == (2.0, 7.5)

    def test_persists_own_adlfs_makes_one_attempt_with_the_limits(self) -> None:
        """adlfs's blob client: persist's limits on every request, no retries of its own."""
        config = DataConfig(
            azure=AZURE_KEYS,
            generic=_engine("fsspec").model_copy(update={"read_timeout": timedelta(seconds=7.5)}),
        )
        tune = plan_for(config, "abfs").fs_tune
        assert tune[_fs.AZURE_CLIENT_OPTIONS] == {
            "connection_timeout": 10.0,
            "read_timeout": 7.5,
            "retry_total": 0,
        }


class TestEndpointHost:
    @pytest.mark.parametrize(
        ("protocol", "config", "expected"),
        [
            ("s3", DataConfig(), "s3.amazonaws.com"),
            ("s3", DataConfig(s3=S3Config(region="eu-west-1")), "s3.eu-west-1.amazonaws.com"),
            ("s3", DataConfig(s3=S3Config(endpoint="http://127.0.0.1:9000/")), "127.0.0.1:9000"),
            ("gs", DataConfig(), "storage.googleapis.com"),
            ("gs", DataConfig(gcs=GCSConfig(endpoint="http://[::1]:4443")), "[::1]:4443"),
            (
                "abfs",
                DataConfig(azure=AzureBlobStorageConfig(account_name="acct")),
                "acct.blob.core.windows.net",
            ),
            (
                "abfs",
                DataConfig(
                    azure=AzureBlobStorageConfig(account_host="http://127.0.0.1:10000/devstoreaccount1")
                ),
                "127.0.0.1:10000",
            ),
            (
                "abfs",
                DataConfig(
                    azure=AzureBlobStorageConfig(
                        connection_string=SecretStr("AccountKey=K;BlobEndpoint=https://h.example:444/acc;")
                    )
                ),
                "h.example:444",
            ),
            ("file", DataConfig(), None),
        ],
    )
    def test_endpoint_named_without_credentials(
        self, protocol: str, config: DataConfig, expected: str
    ) -> None:
        """Errors name the host and port requests go to."""
        assert endpoint_host(protocol, config) == expected
