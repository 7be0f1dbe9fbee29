"""pandas, pyarrow, polars and UPath read and write through persist's options on every emulator.

The code run here is the README's interop block, extracted from README.md, so the README shows
exactly what is tested.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from persist import AzureBlobStorageConfig, DataConfig, GCSConfig
from tests.integration.servers import GCS_PROJECT, AzuriteInfo
from tests.integration.test_s3 import s3_config

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet() -> str:
    """The Python block between ``<!-- interop:start -->`` and ``<!-- interop:end -->``."""
    match = re.search(
        r"<!-- interop:start -->\s*```python\n(.*?)```\s*<!-- interop:end -->", README.read_text(), re.S
    )
    assert match, "README.md lost its interop block (<!-- interop:start --> ... <!-- interop:end -->)"
    return match.group(1)


def run_snippet(root: str, config: DataConfig) -> None:
    code = compile(readme_snippet(), f"{README}:interop", "exec")
    exec(code, {"root": root, "config": config})


def test_s3(s3_endpoint: str, s3_bucket: str) -> None:
    """moto, with the keys and endpoint in the config."""
    run_snippet(f"s3://{s3_bucket}/tables", s3_config(s3_endpoint))


def test_azure(azurite: AzuriteInfo, azure_container: str) -> None:
    """Azurite, through account_name, account_key and an http account_host."""
    config = DataConfig(
        azure=AzureBlobStorageConfig(
            account_name=azurite.account_name,
            account_key=azurite.account_key,
            account_host=azurite.blob_endpoint,
        )
    )
    run_snippet(f"abfs://{azure_container}/tables", config)


def test_gcs(gcs_endpoint: str, gcs_bucket: str) -> None:
    """fake-gcs-server, anonymous, through the endpoint option."""
    config = DataConfig(gcs=GCSConfig(endpoint=gcs_endpoint, project=GCS_PROJECT, token="anon"))
    run_snippet(f"gs://{gcs_bucket}/tables", config)


def test_snippet_fails_when_data_differs(s3_endpoint: str, s3_bucket: str) -> None:
    """The block's checks can fail: a wrong frame written under the same name is caught."""
    config = s3_config(s3_endpoint)
    root = f"s3://{s3_bucket}/tables"
    code = readme_snippet().replace(
        'assert pd.read_parquet(f"{root}/pandas.parquet", storage_options=options).equals(frame)',
        'pd.DataFrame({"id": [9]}).to_parquet(f"{root}/pandas.parquet", storage_options=options)\n'
        'assert pd.read_parquet(f"{root}/pandas.parquet", storage_options=options).equals(frame)',
    )
    with pytest.raises(AssertionError):
        exec(compile(code, "tampered", "exec"), {"root": root, "config": config})
