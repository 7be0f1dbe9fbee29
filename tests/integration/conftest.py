"""Fixtures that run real storage emulators for the integration tests.

One server per backend per session (moto for S3, Azurite for Azure Blob, fake-gcs-server for
GCS) and a fresh, uniquely named bucket or container per test. Every test collected under
``tests/integration`` is marked ``integration``.
"""

from __future__ import annotations

import os

# Both must be set before anything imports gcsfs or builds a botocore credential chain:
# gcsfs reads GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT at import time, and with it enabled asks the
# emulator for a gRPC control API before most operations (about a minute per failed lookup).
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import contextlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.servers import (
    GCS_PROJECT,
    AzuriteInfo,
    azurite_server,
    gcs_server,
    moto_client,
    moto_server,
)

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

_HERE = Path(__file__).resolve().parent

_imported_gcsfs_class = getattr(sys.modules.get("gcsfs"), "GCSFileSystem", None)
if getattr(_imported_gcsfs_class, "__name__", "") == "ExtendedGcsFileSystem":
    raise RuntimeError(
        "gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT enabled before "
        "tests/integration/conftest.py could disable it; set it to 'false' in tests/conftest.py "
        "before anything imports gcsfs (each emulator call would otherwise stall for a minute)."
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration with ``integration``."""
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)


def unique_name(prefix: str = "persist-test") -> str:
    """Return a bucket/container name valid on S3, Azure and GCS that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


# -- S3 (moto) ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Endpoint URL ``http://127.0.0.1:PORT`` of a moto S3 server running for the session."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_admin_client(s3_endpoint: str) -> Iterator[Any]:
    """boto3 S3 client used by the fixtures to create and remove buckets."""
    with moto_client(s3_endpoint) as client:
        yield client


def _empty_and_delete_bucket(client: Any, bucket: str) -> None:
    """Delete every object, version and pending upload in ``bucket``, then the bucket."""
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            if entries:
                client.delete_objects(
                    Bucket=bucket,
                    Delete={
                        "Objects": [
                            {"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries
                        ],
                        "Quiet": True,
                    },
                )
    with contextlib.suppress(Exception):
        client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_bucket(s3_admin_client: Any) -> Iterator[str]:
    """Name of a fresh, empty S3 bucket on the session's moto server, removed afterwards."""
    bucket = unique_name()
    # No CreateBucketConfiguration: us-east-1 rejects an explicit LocationConstraint.
    s3_admin_client.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        _empty_and_delete_bucket(s3_admin_client, bucket)


# -- Azure Blob (Azurite) ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteInfo]:
    """Endpoint, account and connection string of an Azurite blob service for the session."""
    with azurite_server() as info:
        yield info


@pytest.fixture(scope="session")
def _azure_admin_client(azurite: AzuriteInfo) -> Iterator[BlobServiceClient]:
    """Blob service client used by the fixtures to create and remove containers."""
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


@pytest.fixture
def azure_container(_azure_admin_client: BlobServiceClient) -> Iterator[str]:
    """Name of a fresh, empty Azurite container, removed afterwards."""
    container = unique_name()
    _azure_admin_client.create_container(container)
    try:
        yield container
    finally:
        with contextlib.suppress(Exception):
            _azure_admin_client.delete_container(container)


# -- GCS (fake-gcs-server) ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """Endpoint URL ``http://127.0.0.1:PORT`` of a fake-gcs-server running for the session."""
    with gcs_server() as endpoint:
        yield endpoint


def _gcs_request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """Send a JSON API request to fake-gcs-server and return the decoded answer, if any."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


def _gcs_delete_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object in ``bucket``, then the bucket (fake-gcs refuses non-empty ones)."""
    base = f"{endpoint}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}"
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        # Delete the first page until nothing is left, so deletions never shift a page token.
        while items := (_gcs_request("GET", f"{base}/o") or {}).get("items", []):
            for item in items:
                _gcs_request("DELETE", f"{base}/o/{urllib.parse.quote(item['name'], safe='')}")
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        _gcs_request("DELETE", base)


@pytest.fixture
def gcs_bucket(gcs_endpoint: str) -> Iterator[str]:
    """Name of a fresh, empty fake-gcs-server bucket, removed afterwards."""
    bucket = unique_name()
    _gcs_request(
        "POST",
        f"{gcs_endpoint}/storage/v1/b?project={GCS_PROJECT}",
        {"name": bucket},
    )
    try:
        yield bucket
    finally:
        _gcs_delete_bucket(gcs_endpoint, bucket)
