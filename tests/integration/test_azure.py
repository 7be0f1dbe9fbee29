"""The behaviour contract on Azure Blob Storage (Azurite)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from persist import (
    AzureBlobStorageConfig,
    DataConfig,
    FileAccessProvider,
    GenericPersistenceConfig,
    S3Config,
    UploadError,
)
from persist._fs import clear_filesystem_cache
from tests.integration.contract import METADATA, RemoteContract
from tests.integration.faultproxy import FaultProxy
from tests.integration.servers import AzuriteInfo


class AzureContract(RemoteContract):
    """Azurite, reached through the account_host URL or a connection string."""

    @pytest.fixture
    def remote_root(self, azure_container: str) -> str:
        return f"abfs://{azure_container}"

    def object_metadata(self, provider: FileAccessProvider, uri: str) -> dict[str, str]:
        fs = provider.get_filesystem_for_path(uri)
        fs.invalidate_cache()
        return dict(fs.info(uri).get("metadata") or {})

    def expected_metadata(self) -> dict[str, str]:
        # Azure metadata names must be C# identifiers: persist writes '-' as '_'.
        return {k.replace("-", "_"): v for k, v in METADATA.items()}


class TestAzureAccountHost(AzureContract):
    """account_name + account_key + an http account_host URL, default engine (obstore)."""

    engine = "auto"

    @pytest.fixture
    def data_config(self, azurite: AzuriteInfo) -> DataConfig:
        return DataConfig(
            azure=AzureBlobStorageConfig(
                account_name=azurite.account_name,
                account_key=azurite.account_key,
                account_host=azurite.blob_endpoint,
            ),
            generic=GenericPersistenceConfig(engine=self.engine),  # type: ignore[arg-type]
        )


class TestAzureAccountHostFsspec(TestAzureAccountHost):
    """The same through the fsspec engine (adlfs; persist builds a connection string for http)."""

    engine = "fsspec"


class TestAzureConnectionString(AzureContract):
    """A connection string alone."""

    @pytest.fixture
    def data_config(self, azurite: AzuriteInfo) -> DataConfig:
        return DataConfig(
            azure=AzureBlobStorageConfig(
                account_name=azurite.account_name, connection_string=azurite.connection_string
            )
        )


class TestAzureFaults:
    """Throttling between obstore and Azurite: azure.retries is Azure's budget (s3.* plays no part)."""

    def provider(
        self, tmp_path: Path, azurite: AzuriteInfo, proxy: FaultProxy, retries: int
    ) -> FileAccessProvider:
        config = DataConfig(
            azure=AzureBlobStorageConfig(
                account_name=azurite.account_name,
                account_key=azurite.account_key,
                account_host=f"{proxy.url}/{azurite.account_name}",
                retries=retries,
                backoff=timedelta(milliseconds=10),
            ),
            s3=S3Config(retries=9, backoff=timedelta(seconds=60)),
            generic=GenericPersistenceConfig(engine="obstore"),
        )
        return FileAccessProvider(tmp_path / "sb", "abfs://unused/raw/", config)

    @pytest.mark.parametrize(("faults", "retries", "succeeds"), [(2, 2, True), (2, 1, False)])
    def test_throttled_upload_is_retried_within_budget(
        self,
        azurite: AzuriteInfo,
        azure_container: str,
        tmp_path: Path,
        faults: int,
        retries: int,
        succeeds: bool,
    ) -> None:
        """Two 503s: retries=2 gets the file through on the third PUT; retries=1 fails after two."""
        src = tmp_path / "f.bin"
        src.write_bytes(b"azure payload")
        uri = f"abfs://{azure_container}/f.bin"
        with FaultProxy(azurite.blob_endpoint.rsplit("/", 1)[0]) as proxy:
            provider = self.provider(tmp_path, azurite, proxy, retries)
            proxy.reset(faults, "slowdown", methods={"PUT"})
            if succeeds:
                provider.put_data(str(src), uri)
                assert proxy.requests_seen["PUT"] == faults + 1
                out = tmp_path / "out.bin"
                provider.get_data(uri, str(out))
                assert out.read_bytes() == b"azure payload"
            else:
                with pytest.raises(UploadError, match=rf"upload {src} -> {uri} failed"):
                    provider.put_data(str(src), uri)
                assert proxy.requests_seen["PUT"] == retries + 1
        clear_filesystem_cache()
