"""The behaviour contract on Google Cloud Storage (fake-gcs-server)."""

from __future__ import annotations

import pytest

from persist import DataConfig, FileAccessProvider, GCSConfig
from tests.integration.contract import RemoteContract
from tests.integration.servers import GCS_PROJECT


class TestGCS(RemoteContract):
    """fake-gcs-server through GCSConfig.endpoint."""

    @pytest.fixture
    def data_config(self, gcs_endpoint: str) -> DataConfig:
        return DataConfig(gcs=GCSConfig(endpoint=gcs_endpoint, token="anon", project=GCS_PROJECT))

    @pytest.fixture
    def remote_root(self, gcs_bucket: str) -> str:
        return f"gs://{gcs_bucket}"

    def object_metadata(self, provider: FileAccessProvider, uri: str) -> dict[str, str]:
        fs = provider.get_filesystem_for_path(uri)
        fs.invalidate_cache()
        return dict(fs.info(uri).get("metadata") or {})
