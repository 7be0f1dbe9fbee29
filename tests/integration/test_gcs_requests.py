"""GCS files move in one request each way (persist._gcs), and a failed request is persist's to retry.

A fake-gcs-server sits behind a FaultProxy that counts requests and injects failures. The
server's external URL is the proxy's, so the session URL of a resumable upload, where the file's
bytes go, leads through the proxy too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persist import DataConfig, FileAccessProvider, GCSConfig, GenericPersistenceConfig
from persist._fs import clear_filesystem_cache
from persist.errors import UploadError
from tests.integration.faultproxy import FailureMode, FaultProxy
from tests.integration.servers import GCS_PROJECT, find_free_port, gcs_server

MiB = 1024 * 1024
SIZE = 12 * MiB + 123
"""Above gcsfs's 5 MiB simple-upload limit: gcsfs would send it as three 5 MiB chunks."""

METADATA = {"execution-id": "exec-7", "project": "demo"}
BUCKET = "requests"


class Server:
    """The proxy in front of one fake-gcs-server, and the server's own address."""

    def __init__(self, proxy: FaultProxy, upstream: str) -> None:
        self.proxy = proxy
        self.upstream = upstream

    def json(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """One JSON API request straight to the server (not counted by the proxy)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.upstream + path, data=data, method="POST" if data else "GET")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def object(self, name: str) -> tuple[bytes, dict[str, str]] | None:
        """The stored object's bytes and custom metadata, or None when there is none."""
        quoted = urllib.parse.quote(name, safe="")
        try:
            meta = self.json(f"/storage/v1/b/{BUCKET}/o/{quoted}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        url = f"{self.upstream}/download/storage/v1/b/{BUCKET}/o/{quoted}?alt=media"
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read(), dict(meta.get("metadata") or {})


@pytest.fixture
def server() -> Iterator[Server]:
    """A fresh fake-gcs-server whose external URL is a FaultProxy in front of it."""
    port = find_free_port()
    upstream = f"http://127.0.0.1:{port}"
    with FaultProxy(upstream) as proxy, gcs_server(port=port, external_url=proxy.url):
        result = Server(proxy, upstream)
        result.json(f"/storage/v1/b?project={GCS_PROJECT}", {"name": BUCKET})
        clear_filesystem_cache()
        yield result
        clear_filesystem_cache()


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A local file of SIZE bytes."""
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(251)) * (SIZE // 251) + b"z" * (SIZE % 251))
    return path


def provider_for(
    server: Server, tmp_path: Path, retries: int, chunk: int | None = None
) -> FileAccessProvider:
    """A provider for gs://BUCKET through the proxy (``chunk``: write_chunk_size_bytes set)."""
    generic = (
        GenericPersistenceConfig()
        if chunk is None
        else GenericPersistenceConfig(write_chunk_size_bytes=chunk)
    )
    config = DataConfig(
        gcs=GCSConfig(
            endpoint=server.proxy.url, token="anon", project=GCS_PROJECT, retries=retries, backoff=0.01
        ),
        generic=generic,
    )
    return FileAccessProvider(
        tmp_path / "sandbox", f"gs://{BUCKET}/raw/", config, execution_metadata=METADATA
    )


class TestLargeUpload:
    def test_one_session_one_body_request(self, server: Server, big: Path, tmp_path: Path) -> None:
        """A 12 MiB file goes as one resumable session with one body request, metadata included."""
        provider = provider_for(server, tmp_path, retries=0)
        server.proxy.reset()
        provider.put_data(str(big), f"gs://{BUCKET}/raw/big.bin")
        seen = server.proxy.requests_seen
        assert (seen["POST"], seen["PUT"]) == (1, 1), seen
        stored = server.object("raw/big.bin")
        assert stored is not None
        content, metadata = stored
        assert content == big.read_bytes()
        assert metadata.items() >= METADATA.items(), metadata

    def test_chunk_size_set_keeps_chunked_upload(self, server: Server, big: Path, tmp_path: Path) -> None:
        """With generic.write_chunk_size_bytes set (5 MiB), gcsfs sends 12 MiB in three chunks."""
        provider = provider_for(server, tmp_path, retries=0, chunk=5 * MiB)
        server.proxy.reset()
        provider.put_data(str(big), f"gs://{BUCKET}/raw/chunked.bin")
        seen = server.proxy.requests_seen
        assert (seen["POST"], seen["PUT"]) == (4, 0), seen
        stored = server.object("raw/chunked.bin")
        assert stored is not None
        assert stored[0] == big.read_bytes()
        assert stored[1].items() >= METADATA.items(), stored[1]

    @pytest.mark.parametrize("mode", ["reset", "slowdown"])
    def test_failed_body_is_retried_in_a_new_session(
        self, server: Server, big: Path, tmp_path: Path, mode: FailureMode
    ) -> None:
        """A reset or a 503 while the bytes go is retried (gcs.retries=1) and the object is whole."""
        provider = provider_for(server, tmp_path, retries=1)
        server.proxy.reset(1, mode, methods=["PUT"])
        provider.put_data(str(big), f"gs://{BUCKET}/raw/again.bin")
        assert server.proxy.failures_injected == 1
        seen = server.proxy.requests_seen
        assert (seen["POST"], seen["PUT"]) == (2, 2), seen
        stored = server.object("raw/again.bin")
        assert stored is not None
        assert stored[0] == big.read_bytes()

    def test_failed_body_without_retries_stores_nothing(
        self, server: Server, big: Path, tmp_path: Path
    ) -> None:
        """With gcs.retries=0 one reset is an UploadError naming both paths; the session is
        cancelled and no object exists."""
        provider = provider_for(server, tmp_path, retries=0)
        server.proxy.reset(1, "reset", methods=["PUT"])
        with pytest.raises(UploadError) as info:
            provider.put_data(str(big), f"gs://{BUCKET}/raw/lost.bin")
        assert str(big) in str(info.value)
        assert f"gs://{BUCKET}/raw/lost.bin" in str(info.value)
        assert server.proxy.failures_injected == 1
        # The failed session is cancelled, as gcsfs cancels its own.
        assert server.proxy.requests_seen["DELETE"] == 1, server.proxy.requests_seen
        assert server.object("raw/lost.bin") is None


class TestDownload:
    def test_one_get_per_file(self, server: Server, big: Path, tmp_path: Path) -> None:
        """A download is one GET: no metadata lookup first, no ranges."""
        provider = provider_for(server, tmp_path, retries=0)
        provider.put_data(str(big), f"gs://{BUCKET}/raw/big.bin")
        server.proxy.reset()
        out = tmp_path / "out" / "big.bin"
        provider.get_data(f"gs://{BUCKET}/raw/big.bin", str(out))
        assert out.read_bytes() == big.read_bytes()
        assert server.proxy.requests_seen == {"GET": 1}, server.proxy.requests_seen

    def test_failed_get_is_retried(self, server: Server, big: Path, tmp_path: Path) -> None:
        """A reset GET is retried with gcs.retries=1, and the file arrives whole."""
        provider = provider_for(server, tmp_path, retries=1)
        provider.put_data(str(big), f"gs://{BUCKET}/raw/big.bin")
        server.proxy.reset(1, "reset", methods=["GET"])
        out = tmp_path / "out.bin"
        provider.get_data(f"gs://{BUCKET}/raw/big.bin", str(out))
        assert server.proxy.failures_injected == 1
        assert out.read_bytes() == big.read_bytes()
