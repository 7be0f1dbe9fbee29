"""The behaviour contract on Azure Blob Storage (Azurite)."""

from __future__ import annotations

import pytest

from persist import AzureBlobStorageConfig, DataConfig, FileAccessProvider, GenericPersistenceConfig
from tests.integration.contract import METADATA, RemoteContract
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
