"""What a transfer tells its Progress listener, against the real servers: totals, bytes, files."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from persist import (
    AzureBlobStorageConfig,
    DataConfig,
    FileAccessProvider,
    GCSConfig,
    GenericPersistenceConfig,
    S3Config,
)
from persist._plan import plan_for
from tests.integration.servers import GCS_PROJECT, S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, AzuriteInfo

pytestmark = pytest.mark.usefixtures("fresh_filesystems")

PART = 5 * 1024 * 1024
SIZE = 3 * PART + 123
"""Three parts and a bit: a multipart upload on every backend."""

BACKENDS = [
    pytest.param(("s3", "obstore"), id="s3-obstore"),
    pytest.param(("s3", "fsspec"), id="s3-fsspec"),
    pytest.param(("azure", "obstore"), id="azure-obstore"),
    pytest.param(("azure", "fsspec"), id="azure-fsspec"),
    pytest.param(("gcs", "fsspec"), id="gcs"),
]


@dataclass
class Recorder:
    """A Progress listener that keeps every call, in order (calls may come from any thread)."""

    calls: list[tuple[int, int, int | None, int | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
    ) -> None:
        with self.lock:
            self.calls.append((files, nbytes, total_files, total_bytes))

    @property
    def nbytes(self) -> int:
        """Every byte reported."""
        return sum(call[1] for call in self.calls)

    def first(self, kind: str) -> int:
        """Index of the first call with totals (``kind='totals'``) or with bytes (``'bytes'``)."""
        for index, (_, nbytes, total_files, _) in enumerate(self.calls):
            if (kind == "totals" and total_files is not None) or (kind == "bytes" and nbytes):
                return index
        raise AssertionError(f"no call with {kind}: {self.calls}")


@pytest.fixture(params=BACKENDS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[FileAccessProvider, str]:
    """A provider for each backend and engine, and an empty root URI on its server."""
    kind, engine = request.param
    generic = GenericPersistenceConfig(
        engine=engine, attach_execution_metadata=False, write_chunk_size_bytes=PART
    )
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        root = f"s3://{request.getfixturevalue('s3_bucket')}"
        config = DataConfig(
            s3=S3Config(
                endpoint=endpoint,
                access_key_id=S3_ACCESS_KEY,
                secret_access_key=S3_SECRET_KEY,
                region=S3_REGION,
                addressing_style="path",
            ),
            generic=generic,
        )
    elif kind == "azure":
        azurite: AzuriteInfo = request.getfixturevalue("azurite")
        root = f"abfs://{request.getfixturevalue('azure_container')}"
        config = DataConfig(
            azure=AzureBlobStorageConfig(
                account_name=azurite.account_name,
                account_key=azurite.account_key,
                account_host=azurite.blob_endpoint,
            ),
            generic=generic,
        )
    else:
        endpoint = request.getfixturevalue("gcs_endpoint")
        root = f"gs://{request.getfixturevalue('gcs_bucket')}"
        config = DataConfig(
            gcs=GCSConfig(endpoint=endpoint, token="anon", project=GCS_PROJECT), generic=generic
        )
    return FileAccessProvider(str(tmp_path / "sandbox"), root, config), root


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A local file of SIZE bytes."""
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * (SIZE // 256) + b"y" * (SIZE % 256))
    return path


def test_upload_reports_bytes_while_it_runs(place: tuple[FileAccessProvider, str], big: Path) -> None:
    """A single upload reports its bytes as they go, before the file is finished, every byte
    once, on every engine (obstore reads the file through a counting wrapper). Each part is a
    piece; adlfs sends a file this size in one request, so there it is one piece."""
    provider, root = place
    recorder = Recorder()
    provider.put_data(str(big), f"{root}/big.bin", progress=recorder)
    assert recorder.nbytes == SIZE
    finished = [index for index, call in enumerate(recorder.calls) if call[0]]
    assert len(finished) == 1
    pieces = [call[1] for call in recorder.calls[: finished[0]] if call[1] > 0]
    assert sum(pieces) == SIZE, recorder.calls
    engine = plan_for(provider.data_config, root.partition(":")[0]).engine
    one_request = engine == "fsspec" and root.startswith("abfs")
    assert len(pieces) >= (1 if one_request else 2), recorder.calls
    assert recorder.calls[recorder.first("totals")][2:] == (1, SIZE)


def test_download_reports_totals_before_bytes(
    place: tuple[FileAccessProvider, str], big: Path, tmp_path: Path
) -> None:
    """A single-file download passes total_files=1 and its size before the first byte, then
    reports every byte once."""
    provider, root = place
    provider.put_data(str(big), f"{root}/big.bin")
    recorder = Recorder()
    out = tmp_path / "out.bin"
    provider.get_data(f"{root}/big.bin", str(out), progress=recorder)
    assert out.read_bytes() == big.read_bytes()
    totals = recorder.first("totals")
    assert totals < recorder.first("bytes"), recorder.calls
    assert recorder.calls[totals][2:] == (1, SIZE)
    assert [call[2:] for call in recorder.calls if call[2] is not None] == [(1, SIZE)]
    assert recorder.nbytes == SIZE
    assert sum(call[0] for call in recorder.calls) == 1


def test_folder_download_reports_listing_totals_once(
    place: tuple[FileAccessProvider, str], big: Path, tmp_path: Path
) -> None:
    """A folder download reports the listing's totals once, not each file's size as a total."""
    provider, root = place
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "small.txt").write_bytes(b"12345")
    big.rename(tmp_path / "tree" / "big.bin")
    provider.put_data(str(tmp_path / "tree"), f"{root}/tree", is_multipart=True)
    recorder = Recorder()
    provider.get_data(f"{root}/tree", str(tmp_path / "back"), is_multipart=True, progress=recorder)
    assert [call[2:] for call in recorder.calls if call[2] is not None] == [(2, SIZE + 5)]
    assert recorder.first("totals") < recorder.first("bytes")
    assert recorder.nbytes == SIZE + 5
    assert sum(call[0] for call in recorder.calls) == 2


@pytest.mark.parametrize("engine", ["obstore", "fsspec"])
def test_retried_upload_counts_its_bytes_once(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, engine: str
) -> None:
    """An upload whose first attempt is throttled after its bytes were read is retried; the
    bytes of the failed attempt are taken back, so the listener's sum is the file's size."""
    from datetime import timedelta

    from tests.integration.faultproxy import FaultProxy

    src = tmp_path / "f.bin"
    src.write_bytes(b"z" * 100_000)
    with FaultProxy(s3_endpoint) as proxy:
        config = DataConfig(
            s3=S3Config(
                endpoint=proxy.url,
                access_key_id=S3_ACCESS_KEY,
                secret_access_key=S3_SECRET_KEY,
                region=S3_REGION,
                addressing_style="path",
                retries=2,
                backoff=timedelta(milliseconds=10),
            ),
            generic=GenericPersistenceConfig(engine=engine, attach_execution_metadata=False),
        )
        provider = FileAccessProvider(str(tmp_path / "sandbox"), f"s3://{s3_bucket}", config)
        proxy.fail_first(1, "slowdown", methods={"PUT"})
        recorder = Recorder()
        provider.put_data(str(src), f"s3://{s3_bucket}/f.bin", progress=recorder)
        assert proxy.failures_injected == 1
    assert recorder.nbytes == 100_000, recorder.calls
    assert sum(call[0] for call in recorder.calls) == 1
