"""The error boundary on exceptions real servers cause: one table per backend and engine.

Each row makes one backend fail for real (a missing object or bucket, refused credentials),
captures what that backend raised when called directly, and checks both what the boundary
makes of it (``classify``) and what the provider raises for the same request. The rows a local
server cannot produce (a GCS 403, google-auth's missing key file) are in tests/test_errors.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from persist import (
    AzureBlobStorageConfig,
    DataConfig,
    DataNotFoundError,
    DownloadError,
    FileAccessProvider,
    GCSConfig,
    GenericPersistenceConfig,
    PersistError,
    S3Config,
)
from persist._backend import make_backend
from persist._errors import Kind, classify
from persist._fs import run_sync
from persist._plan import plan_for
from persist.paths import get_protocol
from tests.integration import test_cli_servers
from tests.integration.servers import GCS_PROJECT, S3_ACCESS_KEY, S3_SECRET_KEY, AzuriteInfo
from tests.integration.test_cli_servers import AuthMoto

auth_moto = test_cli_servers.auth_moto
"""The moto server that checks signatures (a module fixture of test_cli_servers)."""

ENGINES = ["fsspec", "obstore"]


@dataclass(frozen=True)
class Case:
    """A request that fails: the config, the path, and what it must become."""

    config: DataConfig
    uri: str
    kind: Kind
    error: type[PersistError]


def backend_exception(case: Case, tmp_path: Path) -> BaseException:
    """What the backend itself raises for a download of ``case.uri`` (one attempt, no mapping)."""
    backend = make_backend(plan_for(case.config, get_protocol(case.uri)), {})
    target = tmp_path / f"raw-{uuid.uuid4().hex}"
    try:
        run_sync(lambda: backend.download_file(case.uri, str(target), None))
    except Exception as exc:
        return exc
    raise AssertionError(f"downloading {case.uri} did not fail")


def check(case: Case, tmp_path: Path) -> None:
    raw = backend_exception(case, tmp_path)
    assert classify(raw) is case.kind, repr(raw)
    provider = FileAccessProvider(tmp_path / "sb", case.uri.rsplit("/", 1)[0], case.config)
    with pytest.raises(PersistError) as caught:
        provider.get_data(case.uri, str(tmp_path / "out.bin"))
    assert type(caught.value) is case.error, caught.value
    assert not (tmp_path / "out.bin").exists()


def s3(endpoint: str, engine: str, secret: str = S3_SECRET_KEY, key: str = S3_ACCESS_KEY) -> DataConfig:
    return DataConfig(
        s3=S3Config(
            endpoint=endpoint,
            access_key_id=key,
            secret_access_key=secret,
            addressing_style="path",
            region="us-east-1",
            retries=0,
        ),
        generic=GenericPersistenceConfig(engine=engine),  # type: ignore[arg-type]
    )


def azure(azurite: AzuriteInfo, engine: str, key: str | None = None) -> DataConfig:
    return DataConfig(
        azure=AzureBlobStorageConfig(
            account_name=azurite.account_name,
            account_key=key or azurite.account_key,
            account_host=azurite.blob_endpoint,
            retries=0,
        ),
        generic=GenericPersistenceConfig(engine=engine),  # type: ignore[arg-type]
    )


# A valid base64 key that is not Azurite's: every request is refused with 403.
WRONG_AZURE_KEY = "d3Jvbmcta2V5LWZvci1henVyaXRlLXRoYXQtaXMtbm90LWl0cy1vd24tMDEyMzQ1Njc4OQ=="

S3_ROWS: dict[str, Callable[[str, str, str, AuthMoto], Case]] = {
    "missing-object": lambda e, engine, bucket, auth: Case(
        s3(e, engine), f"s3://{bucket}/nope.bin", Kind.NOT_FOUND, DataNotFoundError
    ),
    "missing-bucket": lambda e, engine, bucket, auth: Case(
        s3(e, engine), f"s3://no-such-{uuid.uuid4().hex[:8]}/k.bin", Kind.NOT_FOUND, DataNotFoundError
    ),
    "wrong-secret-403": lambda e, engine, bucket, auth: Case(
        s3(auth.endpoint, engine, key=auth.key_id, secret="wrong-secret"),
        f"s3://{auth.bucket}/k.bin",
        Kind.DENIED,
        DownloadError,
    ),
    "unknown-key-403": lambda e, engine, bucket, auth: Case(
        s3(auth.endpoint, engine, key="AKIAUNKNOWN0000000", secret="x"),
        f"s3://{auth.bucket}/k.bin",
        Kind.DENIED,
        DownloadError,
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("row", sorted(S3_ROWS))
def test_s3(
    row: str, engine: str, s3_endpoint: str, s3_bucket: str, auth_moto: AuthMoto, tmp_path: Path
) -> None:
    """moto: a missing object or bucket is DataNotFoundError; a 403 is a DownloadError, never "not found"."""
    check(S3_ROWS[row](s3_endpoint, engine, s3_bucket, auth_moto), tmp_path)


AZURE_ROWS: dict[str, Callable[[AzuriteInfo, str, str], Case]] = {
    "missing-blob": lambda az, engine, container: Case(
        azure(az, engine), f"abfs://{container}/nope.bin", Kind.NOT_FOUND, DataNotFoundError
    ),
    "missing-container": lambda az, engine, container: Case(
        azure(az, engine), f"abfs://no-such-{uuid.uuid4().hex[:8]}/k.bin", Kind.NOT_FOUND, DataNotFoundError
    ),
    "wrong-key-403": lambda az, engine, container: Case(
        azure(az, engine, key=WRONG_AZURE_KEY), f"abfs://{container}/k.bin", Kind.DENIED, DownloadError
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("row", sorted(AZURE_ROWS))
def test_azure(row: str, engine: str, azurite: AzuriteInfo, azure_container: str, tmp_path: Path) -> None:
    """Azurite: a missing blob or container is DataNotFoundError; a refused key is a DownloadError."""
    check(AZURE_ROWS[row](azurite, engine, azure_container), tmp_path)


GCS_ROWS: dict[str, Callable[[str, str], Case]] = {
    "missing-object": lambda endpoint, bucket: Case(
        DataConfig(gcs=GCSConfig(endpoint=endpoint, token="anon", project=GCS_PROJECT)),
        f"gs://{bucket}/nope.bin",
        Kind.NOT_FOUND,
        DataNotFoundError,
    ),
    "missing-bucket": lambda endpoint, bucket: Case(
        DataConfig(gcs=GCSConfig(endpoint=endpoint, token="anon", project=GCS_PROJECT)),
        f"gs://no-such-{uuid.uuid4().hex[:8]}/k.bin",
        Kind.NOT_FOUND,
        DataNotFoundError,
    ),
}


@pytest.mark.parametrize("row", sorted(GCS_ROWS))
def test_gcs(row: str, gcs_endpoint: str, gcs_bucket: str, tmp_path: Path) -> None:
    """fake-gcs-server (gcsfs): missing objects and buckets are DataNotFoundError."""
    check(GCS_ROWS[row](gcs_endpoint, gcs_bucket), tmp_path)


def test_local_missing_file(tmp_path: Path) -> None:
    """The local disk: a missing source is DataNotFoundError."""
    check(Case(DataConfig(), str(tmp_path / "nope.bin"), Kind.NOT_FOUND, DataNotFoundError), tmp_path)


@pytest.mark.parametrize("engine", ENGINES)
def test_refused_lookup_is_not_reported_as_missing(engine: str, auth_moto: AuthMoto, tmp_path: Path) -> None:
    """exists() with refused credentials (and refused anonymous access) raises, never says False."""
    config = s3(auth_moto.endpoint, engine, key=auth_moto.key_id, secret="wrong-secret")
    provider = FileAccessProvider(tmp_path / "sb", f"s3://{auth_moto.bucket}/", config)
    with pytest.raises(DownloadError, match=r"cannot tell whether s3://.+ exists"):
        provider.exists(f"s3://{auth_moto.bucket}/k.bin")


@pytest.mark.parametrize("engine", ENGINES)
def test_listing_and_delete_map_errors(engine: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    """ls and rm_file of a missing key go through the same boundary: DataNotFoundError."""
    provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/", s3(s3_endpoint, engine))
    with pytest.raises(DataNotFoundError, match="does not exist"):
        provider.ls(f"s3://{s3_bucket}/nothing/here")
    provider.put_raw_data(b"x", upload_prefix="d", file_name="k.txt")
    assert [e["name"] for e in provider.ls(f"s3://{s3_bucket}/d")] == [f"s3://{s3_bucket}/d/k.txt"]
    provider.rm_file(f"s3://{s3_bucket}/d/k.txt")
    assert not provider.exists(f"s3://{s3_bucket}/d/k.txt")
