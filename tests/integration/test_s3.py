"""The behaviour contract on S3 (moto's server), plus S3 faults: throttling and resets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pytest

from persist import (
    DataConfig,
    DataNotFoundError,
    DownloadError,
    FileAccessProvider,
    InvalidInputError,
    S3Config,
    UploadError,
)
from persist._fs import clear_filesystem_cache
from persist.config import GenericPersistenceConfig
from tests.integration.contract import METADATA, RemoteContract
from tests.integration.faultproxy import FaultProxy
from tests.integration.servers import S3_ACCESS_KEY, S3_SECRET_KEY


def s3_config(endpoint: str, retries: int = 2, engine: str = "auto", **generic: object) -> DataConfig:
    """A config for moto at ``endpoint``, with a tiny backoff so retry tests stay fast."""
    return DataConfig(
        s3=S3Config(
            endpoint=endpoint,
            access_key_id=S3_ACCESS_KEY,
            secret_access_key=S3_SECRET_KEY,
            addressing_style="path",
            region="us-east-1",
            retries=retries,
            backoff=timedelta(milliseconds=10),
        ),
        generic=GenericPersistenceConfig(engine=engine, **generic),  # type: ignore[arg-type]
    )


class TestS3(RemoteContract):
    """moto's S3 server, through the default engine (obstore, as the keys are in the config)."""

    engine = "auto"

    @pytest.fixture
    def data_config(self, s3_endpoint: str) -> DataConfig:
        return s3_config(s3_endpoint, engine=self.engine)

    @pytest.fixture
    def remote_root(self, s3_bucket: str) -> str:
        return f"s3://{s3_bucket}"

    def object_metadata(self, provider: FileAccessProvider, uri: str) -> dict[str, str]:
        fs = provider.get_filesystem_for_path(uri)
        return dict(fs.metadata(uri, refresh=True))

    def test_multipart_upload_round_trip_with_metadata(
        self, s3_endpoint: str, remote_root: str, tmp_path: Path, s3_admin_client: Any
    ) -> None:
        """A file larger than the part size goes up in parts, keeps its bytes and its metadata."""
        config = s3_config(s3_endpoint, engine=self.engine, write_chunk_size_bytes=5 * 1024 * 1024)
        provider = FileAccessProvider(
            tmp_path / "sandbox", f"{remote_root}/raw", config, execution_metadata=METADATA
        )
        src = tmp_path / "big.bin"
        src.write_bytes(os.urandom(11 * 1024 * 1024 + 7))
        uri = f"{remote_root}/big.bin"
        provider.put_data(str(src), uri)
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        # A multipart upload's ETag ends in -<number of parts>.
        assert s3_admin_client.head_object(Bucket=bucket, Key=key)["ETag"].endswith('-3"')
        out = tmp_path / "big-out.bin"
        provider.get_data(uri, str(out))
        assert out.read_bytes() == src.read_bytes()
        self.assert_has_metadata(provider, uri)

    def test_recursive_get_refuses_keys_with_dotdot(
        self, provider: FileAccessProvider, s3_bucket: str, tmp_path: Path
    ) -> None:
        """A remote key with '..' segments stops a folder download before anything is written."""
        fs = provider.get_filesystem("s3")
        fs.pipe_file(f"{s3_bucket}/evil/a.txt", b"fine")
        fs.pipe_file(f"{s3_bucket}/evil/x/../../../escaped.txt", b"evil")
        target = tmp_path / "deep" / "target"
        with pytest.raises(InvalidInputError, match=r"'\.\.' segments"):
            provider.download_directory(f"s3://{s3_bucket}/evil", str(target))
        assert not (tmp_path / "escaped.txt").exists()
        assert not (tmp_path / "deep" / "escaped.txt").exists()
        assert not target.exists() or list(target.rglob("*")) == []


class TestS3Fsspec(TestS3):
    """moto's S3 server, through the fsspec engine (s3fs)."""

    engine = "fsspec"


class TestS3Checksums:
    """Upload checksums, which only the obstore engine sends."""

    @pytest.mark.parametrize("upload_checksum", [True, False])
    def test_uploads_carry_a_sha256_checksum_unless_turned_off(
        self, s3_endpoint: str, s3_bucket: str, tmp_path: Path, s3_admin_client: Any, upload_checksum: bool
    ) -> None:
        """obstore sends each part's SHA-256, which the store verifies and keeps; off sends none.

        moto records the checksum of multipart uploads only, so the file here is in parts.
        """
        base = s3_config(s3_endpoint, engine="obstore", write_chunk_size_bytes=5 * 1024 * 1024)
        config = base.model_copy(
            update={"s3": base.s3.model_copy(update={"upload_checksum": upload_checksum})}
        )
        provider = FileAccessProvider(tmp_path / "sandbox", f"s3://{s3_bucket}/raw", config)
        src = tmp_path / "data.bin"
        src.write_bytes(os.urandom(11 * 1024 * 1024))
        provider.put_data(str(src), f"s3://{s3_bucket}/data.bin")
        head = s3_admin_client.head_object(Bucket=s3_bucket, Key="data.bin", ChecksumMode="ENABLED")
        assert bool(head.get("ChecksumSHA256")) is upload_checksum, head


def test_a_file_past_the_part_limit_goes_up_in_larger_parts(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, s3_admin_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """obstore grows the part size when the configured one would need too many parts.

    S3's limit is 10,000 parts; lowered to 2 here, an 11 MiB file with 5 MiB parts goes up in
    two parts of 6 MiB rather than three of 5 MiB.
    """
    monkeypatch.setattr("persist._obstore.S3_MAX_PARTS", 2)
    config = s3_config(s3_endpoint, engine="obstore", write_chunk_size_bytes=5 * 1024 * 1024)
    provider = FileAccessProvider(tmp_path / "sandbox", f"s3://{s3_bucket}/raw", config)
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(11 * 1024 * 1024 + 7))
    provider.put_data(str(src), f"s3://{s3_bucket}/data.bin")
    # A multipart upload's ETag ends in -<number of parts>.
    assert s3_admin_client.head_object(Bucket=s3_bucket, Key="data.bin")["ETag"].endswith('-2"')
    out = tmp_path / "out.bin"
    provider.get_data(f"s3://{s3_bucket}/data.bin", str(out))
    assert out.read_bytes() == src.read_bytes()


# A script that uploads a folder through obstore and exits at once, while obstore's thread that
# handed the last result to the event loop is still inside call_soon_threadsafe without the GIL.
# Two delays make the race certain: the loop's method (the guard finds it by this name) lingers
# 0.2 s after waking the loop, and the interpreter's shutdown lasts at least 0.5 s (an object
# that sleeps when it is collected), so the thread asks for the GIL back during the shutdown.
_EXIT_RACE_SCRIPT = """
import sys, time
import persist._obstore
from persist import DataConfig, FileAccessProvider, S3Config
from persist._fs import io_loop

endpoint, key, secret, bucket, folder, guard = sys.argv[1:]
if guard == "off":
    persist._obstore._EXIT_GUARDED = True
loop = io_loop()
original = loop.call_soon_threadsafe

def call_soon_threadsafe(*args, **kwargs):
    handle = original(*args, **kwargs)
    time.sleep(0.2)
    return handle

class SlowShutdown:
    def __del__(self, sleep=time.sleep):
        sleep(0.5)

loop.call_soon_threadsafe = call_soon_threadsafe
slow_shutdown = SlowShutdown()
config = DataConfig(s3=S3Config(endpoint=endpoint, access_key_id=key, secret_access_key=secret,
                                addressing_style="path", region="us-east-1"))
provider = FileAccessProvider(folder + "-sandbox", f"s3://{bucket}/raw", config)
provider.put_data(folder, f"s3://{bucket}/folder", is_multipart=True)
print("uploaded", flush=True)
"""


class TestExitAfterObstoreTransfer:
    """The interpreter's exit waits for obstore's threads instead of aborting (exit status 134)."""

    def run_script(
        self, endpoint: str, bucket: str, folder: Path, guard: str
    ) -> subprocess.CompletedProcess[str]:
        folder.mkdir(exist_ok=True)
        for i in range(4):
            (folder / f"f{i}.txt").write_text(str(i))
        command = [sys.executable, "-c", _EXIT_RACE_SCRIPT, endpoint, S3_ACCESS_KEY, S3_SECRET_KEY]
        return subprocess.run(
            [*command, bucket, str(folder), guard], capture_output=True, text=True, timeout=60, check=False
        )

    def test_exit_status_is_zero(self, s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
        result = self.run_script(s3_endpoint, s3_bucket, tmp_path / "folder", "on")
        assert (result.returncode, result.stdout) == (0, "uploaded\n"), result.stderr[-2000:]

    @pytest.mark.skipif(sys.version_info >= (3, 14), reason="CPython 3.14 parks the thread instead")
    def test_without_the_guard_the_script_aborts(
        self, s3_endpoint: str, s3_bucket: str, tmp_path: Path
    ) -> None:
        """The control: the script does reproduce the race the guard is for."""
        result = self.run_script(s3_endpoint, s3_bucket, tmp_path / "folder", "off")
        assert (result.returncode, result.stdout) == (-signal.SIGABRT, "uploaded\n"), result.stderr[-2000:]


ProviderFor = Callable[[int], FileAccessProvider]
"""``provider_for(retries)``: a provider that reaches moto through the fault proxy."""


class Transfer(NamedTuple):
    """A local file to upload, the object it goes to, and a local path to download it to."""

    src: Path
    uri: str
    out: Path


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(s3_endpoint) as running:
        yield running
    clear_filesystem_cache()


@pytest.fixture(params=["fsspec", "obstore"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestS3Faults:
    """Throttling and resets between the client and moto, injected by a proxy, on both engines."""

    @pytest.fixture
    def provider_for(self, tmp_path: Path, engine: str, proxy: FaultProxy) -> ProviderFor:
        def make(retries: int) -> FileAccessProvider:
            config = s3_config(proxy.url, retries=retries, engine=engine)
            return FileAccessProvider(tmp_path / "sb", "s3://unused/raw/", config)

        return make

    @pytest.fixture
    def transfer(self, tmp_path: Path, s3_bucket: str) -> Transfer:
        """4 KiB of random bytes in f.bin, to go to f.bin in a fresh bucket and back to out/f.bin."""
        src = tmp_path / "f.bin"
        src.write_bytes(os.urandom(4096))
        return Transfer(src, f"s3://{s3_bucket}/f.bin", tmp_path / "out" / "f.bin")

    # aiohttp (under s3fs) replays an idempotent request once when its keep-alive connection
    # drops (a stale pooled connection) before botocore sees an error, so one fsspec attempt
    # absorbs two resets; obstore makes one request per attempt.
    REQUESTS_PER_ATTEMPT: ClassVar[dict[tuple[str, str], int]] = {
        ("fsspec", "slowdown"): 1,
        ("fsspec", "reset"): 2,
        ("obstore", "slowdown"): 1,
        ("obstore", "reset"): 1,
    }

    @pytest.mark.parametrize("mode", ["slowdown", "reset"])
    def test_upload_succeeds_when_retries_cover_the_faults(
        self, proxy: FaultProxy, provider_for: ProviderFor, engine: str, transfer: Transfer, mode: str
    ) -> None:
        """Faults that fill two attempts and retries=2: the third attempt succeeds."""
        provider = provider_for(retries=2)
        faults = 2 * self.REQUESTS_PER_ATTEMPT[engine, mode]
        proxy.reset(faults, mode, methods={"PUT"})  # type: ignore[arg-type]
        provider.put_data(str(transfer.src), transfer.uri)
        assert proxy.failures_injected == faults
        assert proxy.requests_seen["PUT"] == faults + 1
        provider.get_data(transfer.uri, str(transfer.out))
        assert transfer.out.read_bytes() == transfer.src.read_bytes()

    @pytest.mark.parametrize("mode", ["slowdown", "reset"])
    def test_upload_fails_when_faults_outnumber_retries(
        self, proxy: FaultProxy, provider_for: ProviderFor, engine: str, transfer: Transfer, mode: str
    ) -> None:
        """Faults that fill three attempts and retries=2: UploadError, no fourth attempt, no object."""
        provider = provider_for(retries=2)
        faults = 3 * self.REQUESTS_PER_ATTEMPT[engine, mode]
        proxy.reset(faults + 5, mode, methods={"PUT"})  # type: ignore[arg-type]
        with pytest.raises(UploadError, match=rf"upload {transfer.src} -> {transfer.uri} failed") as info:
            provider.put_data(str(transfer.src), transfer.uri)
        assert info.value.__cause__ is not None
        assert proxy.requests_seen["PUT"] == faults
        proxy.reset(0)
        assert provider.exists(transfer.uri) is False

    def test_non_retryable_errors_fail_at_once(
        self, proxy: FaultProxy, provider_for: ProviderFor, transfer: Transfer
    ) -> None:
        """An upload to a missing bucket is not retried: one request, then UploadError."""
        provider = provider_for(retries=3)
        proxy.reset(0)
        with pytest.raises(UploadError, match="NoSuchBucket"):
            provider.put_data(str(transfer.src), "s3://no-such-bucket-here/f.bin")
        assert proxy.requests_seen["PUT"] == 1

    def test_failed_download_keeps_existing_file(
        self, proxy: FaultProxy, provider_for: ProviderFor, transfer: Transfer
    ) -> None:
        """A download that keeps failing leaves the existing local file as it was, and no temp file."""
        provider = provider_for(retries=1)
        provider.put_data(str(transfer.src), transfer.uri)
        dst = transfer.out
        dst.parent.mkdir()
        dst.write_bytes(b"the old file")
        proxy.reset(10, "reset", methods={"GET", "HEAD"})
        with pytest.raises(DownloadError, match=rf"{dst} left unchanged"):
            provider.get_data(transfer.uri, str(dst))
        assert dst.read_bytes() == b"the old file"
        assert [p.name for p in dst.parent.iterdir()] == ["f.bin"]

    def test_folder_upload_retries_each_file(
        self, proxy: FaultProxy, provider_for: ProviderFor, s3_bucket: str, tmp_path: Path
    ) -> None:
        """Faults spread over a folder upload are retried per file; every file arrives intact."""
        provider = provider_for(retries=3)
        root = tmp_path / "tree"
        root.mkdir()
        files = {f"f{i}.bin": os.urandom(512) for i in range(12)}
        for name, content in files.items():
            (root / name).write_bytes(content)
        proxy.reset(3, "slowdown", methods={"PUT"})
        provider.upload_directory(str(root), f"s3://{s3_bucket}/tree")
        out = tmp_path / "back"
        provider.download_directory(f"s3://{s3_bucket}/tree", str(out))
        assert {p.name: p.read_bytes() for p in out.iterdir()} == files


@pytest.mark.parametrize("engine", ["fsspec", "obstore"])
def test_repeated_calls_build_one_client(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, engine: str
) -> None:
    """A hundred exists calls build the backend client once, on either engine."""
    from persist import _fs, _obstore

    clear_filesystem_cache()
    provider = FileAccessProvider(
        tmp_path / "sb", f"s3://{s3_bucket}/raw/", s3_config(s3_endpoint, engine=engine)
    )
    for i in range(100):
        assert provider.exists(f"s3://{s3_bucket}/missing-{i}") is False
    built = len(_obstore._STORES) if engine == "obstore" else len(_fs._FS_CACHE)
    assert built == 1


PUBLIC_TREE = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)), "sub/deeper/c.csv": b"x,y\n1,2\n"}
"""The files of the public folder, by key under ``public/``."""


@pytest.fixture
def public_bucket(s3_admin_client: Any, s3_bucket: str) -> str:
    """A bucket whose policy lets anyone list it and read its objects, holding ``PUBLIC_TREE``."""
    import json

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{s3_bucket}", f"arn:aws:s3:::{s3_bucket}/*"],
            }
        ],
    }
    s3_admin_client.put_bucket_policy(Bucket=s3_bucket, Policy=json.dumps(policy))
    for key, content in PUBLIC_TREE.items():
        s3_admin_client.put_object(Bucket=s3_bucket, Key=f"public/{key}", Body=content)
    return s3_bucket


class TestAnonymousFallback:
    """A public bucket that refuses the configured keys, as flytekit handles it: retry unsigned.

    The fault proxy answers every signed request with 403 AccessDenied and forwards unsigned
    ones to moto, which serves them under the bucket's public-read policy.
    """

    @pytest.fixture
    def provider(self, tmp_path: Path, engine: str, proxy: FaultProxy) -> FileAccessProvider:
        proxy.deny("signed")
        return FileAccessProvider(tmp_path / "sb", "s3://unused/raw/", s3_config(proxy.url, engine=engine))

    def test_folder_download_falls_back_to_anonymous(
        self, provider: FileAccessProvider, proxy: FaultProxy, public_bucket: str, tmp_path: Path
    ) -> None:
        """A folder whose listing refuses the keys is downloaded without them, whole.

        persist's obstore engine used to fail here, as the refusal came from the listing
        rather than from a file's download.
        """
        out = tmp_path / "out"
        provider.get_data(f"s3://{public_bucket}/public", str(out), is_multipart=True)
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert got == PUBLIC_TREE
        assert proxy.denied >= 1
        assert proxy.anonymous_forwarded >= 1 + len(PUBLIC_TREE)

    def test_file_download_falls_back_to_anonymous(
        self, provider: FileAccessProvider, proxy: FaultProxy, public_bucket: str, tmp_path: Path
    ) -> None:
        """A single file does the same."""
        out = tmp_path / "a.txt"
        provider.get_data(f"s3://{public_bucket}/public/a.txt", str(out))
        assert out.read_bytes() == b"alpha"
        assert proxy.denied >= 1

    def test_missing_folder_in_public_bucket_is_not_found(
        self, provider: FileAccessProvider, public_bucket: str, tmp_path: Path
    ) -> None:
        """Anonymous access that finds nothing is DataNotFoundError, not a refusal."""
        with pytest.raises(DataNotFoundError, match=f"s3://{public_bucket}/nothing-here"):
            provider.get_data(f"s3://{public_bucket}/nothing-here", str(tmp_path / "out"), is_multipart=True)

    def test_folder_refused_to_everyone_keeps_the_first_error(
        self, provider: FileAccessProvider, proxy: FaultProxy, public_bucket: str, tmp_path: Path
    ) -> None:
        """When anonymous access is refused too, the error is the credentials' AccessDenied."""
        proxy.deny("all")
        src = f"s3://{public_bucket}/public"
        out = tmp_path / "out"
        with pytest.raises(
            DownloadError, match=rf"^download {src} -> {out} failed \(.*(AccessDenied|403 Forbidden)"
        ) as info:
            provider.get_data(src, str(out), is_multipart=True)
        assert info.value.__cause__ is not None
        assert not out.exists() or list(out.rglob("*")) == []

    def test_file_refused_to_everyone_keeps_the_first_error(
        self, provider: FileAccessProvider, proxy: FaultProxy, public_bucket: str, tmp_path: Path
    ) -> None:
        """The same for a single file: DownloadError naming both paths, nothing written."""
        proxy.deny("all")
        src = f"s3://{public_bucket}/public/a.txt"
        out = tmp_path / "a.txt"
        with pytest.raises(DownloadError, match=rf"^download {src} -> {out} failed; {out} left unchanged"):
            provider.get_data(src, str(out))
        assert not out.exists()


def test_async_filesystem_is_awaited(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    """``await provider.get_async_filesystem_for_path(uri)`` gives an async s3fs on the caller's loop.

    As in flytekit 1.16, where it is a coroutine function; persist's used to be a plain one, so
    flytekit callers that await it broke.
    """
    import asyncio

    provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/raw/", s3_config(s3_endpoint))

    async def round_trip() -> bytes:
        fs = await provider.get_async_filesystem_for_path(f"s3://{s3_bucket}/async.txt")
        assert fs.asynchronous
        try:
            await fs._pipe_file(f"{s3_bucket}/async.txt", b"awaited")
            return bytes(await fs._cat_file(f"{s3_bucket}/async.txt"))
        finally:
            if fs._s3 is not None:
                await fs._s3.close()

    assert asyncio.run(round_trip()) == b"awaited"
