"""The fsspec engine lists a folder a page at a time (s3fs, adlfs, gcsfs): files land while it lists."""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from persist import AzureBlobStorageConfig, DataConfig, FileAccessProvider, GCSConfig
from persist.config import GenericPersistenceConfig
from tests.integration.servers import GCS_PROJECT
from tests.integration.test_s3 import s3_config

KEYS = 60
"""Objects in the folder: six pages of 10, far more than one file at a time lets the listing read ahead."""


@dataclass
class Site:
    """One store: the folder's URI, a config for persist's fsspec engine, and a way to add an object."""

    root: str
    config: DataConfig
    put: Callable[[str, bytes], None]


def _s3_site(request: pytest.FixtureRequest) -> Site:
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    client = request.getfixturevalue("s3_admin_client")
    return Site(
        f"s3://{bucket}",
        s3_config(endpoint, engine="fsspec", max_concurrency=1),
        lambda key, body: client.put_object(Bucket=bucket, Key=key, Body=body),
    )


def _azure_site(request: pytest.FixtureRequest) -> Site:
    azurite = request.getfixturevalue("azurite")
    container = request.getfixturevalue("azure_container")
    admin = request.getfixturevalue("_azure_admin_client")
    config = DataConfig(
        azure=AzureBlobStorageConfig(
            account_name=azurite.account_name,
            account_key=azurite.account_key,
            account_host=azurite.blob_endpoint,
        ),
        generic=GenericPersistenceConfig(engine="fsspec", max_concurrency=1),
    )
    return Site(
        f"abfs://{container}",
        config,
        lambda key, body: admin.get_blob_client(container, key).upload_blob(body),
    )


def _gcs_site(request: pytest.FixtureRequest) -> Site:
    endpoint = request.getfixturevalue("gcs_endpoint")
    bucket = request.getfixturevalue("gcs_bucket")

    def put(key: str, body: bytes) -> None:
        query = urllib.parse.urlencode({"uploadType": "media", "name": key})
        url = f"{endpoint}/upload/storage/v1/b/{bucket}/o?{query}"
        upload = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(upload, timeout=30):
            pass

    config = DataConfig(
        gcs=GCSConfig(endpoint=endpoint, token="anon", project=GCS_PROJECT),
        generic=GenericPersistenceConfig(engine="fsspec", max_concurrency=1),
    )
    return Site(f"gs://{bucket}", config, put)


@pytest.fixture(params=["s3", "azure", "gcs"])
def site(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Site:
    """A fresh bucket on one of the three servers, listed in pages of 10 names."""
    monkeypatch.setattr("persist._backend.LIST_BATCH", 10)
    makers = {"s3": _s3_site, "azure": _azure_site, "gcs": _gcs_site}
    return makers[request.param](request)


def test_first_file_lands_before_the_listing_ends(site: Site, tmp_path: Path) -> None:
    """An object added when the first file has landed, at a name listed last, is downloaded too:
    the listing had not reached it yet. Every other file arrives intact."""
    for i in range(KEYS):
        site.put(f"tree/k{i:02d}", b"v%d" % i)
    added: list[int] = []

    def progress(files: int, nbytes: int, **totals: Any) -> None:
        if files and not added:
            added.append(1)
            site.put("tree/zz-late", b"late")

    provider = FileAccessProvider(str(tmp_path / "sandbox"), f"{site.root}/raw", site.config)
    provider.get_data(f"{site.root}/tree", str(tmp_path / "out"), is_multipart=True, progress=progress)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [*(f"k{i:02d}" for i in range(KEYS)), "zz-late"]
    assert (tmp_path / "out" / "k59").read_bytes() == b"v59"
    assert (tmp_path / "out" / "zz-late").read_bytes() == b"late"


def test_a_file_at_the_root_is_downloaded_when_nothing_is_under_it(site: Site, tmp_path: Path) -> None:
    """As fsspec's find: a folder download of a single object's name gets that object."""
    site.put("one.bin", b"only")
    provider = FileAccessProvider(str(tmp_path / "sandbox"), f"{site.root}/raw", site.config)
    provider.get_data(f"{site.root}/one.bin", str(tmp_path / "out"), is_multipart=True)
    found = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in found] == [b"only"]
