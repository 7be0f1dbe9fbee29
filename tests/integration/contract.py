"""One behaviour suite for FileAccessProvider, run unchanged against every backend.

A backend's test module subclasses :class:`ProviderContract` (or :class:`RemoteContract`, which
adds object-metadata checks) and supplies two fixtures: ``data_config`` and ``remote_root``, the
URI of an empty prefix on that backend.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from persist import (
    DataConfig,
    DataNotFoundError,
    FileAccessProvider,
    InvalidInputError,
)

METADATA = {"execution-id": "exec-42", "project": "demo"}


def make_tree(root: Path) -> dict[str, bytes]:
    """Write a small folder (nested, with an empty file) and return {relative path: content}."""
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": bytes(range(256)) * 4,
        "sub/deeper/c.csv": b"x,y\n1,2\n",
        "empty.dat": b"",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """{relative posix path: content} of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Tree(NamedTuple):
    """A local folder to upload (``make_tree``), its files, and a folder to download into (not created)."""

    root: Path
    files: dict[str, bytes]
    out: Path


class ProviderContract:
    """Round trips, layouts, errors and safety that every backend must show."""

    @pytest.fixture
    def provider(self, tmp_path: Path, data_config: DataConfig, remote_root: str) -> FileAccessProvider:
        return FileAccessProvider(
            tmp_path / "sandbox",
            f"{remote_root}/raw/",
            data_config=data_config,
            execution_metadata=METADATA,
        )

    @pytest.fixture
    def tree(self, tmp_path: Path) -> Tree:
        root = tmp_path / "tree"
        return Tree(root, make_tree(root), tmp_path / "back")

    def read_remote(self, provider: FileAccessProvider, uri: str) -> bytes:
        fs = provider.get_filesystem_for_path(uri)
        fs.invalidate_cache()
        return bytes(fs.cat_file(uri))

    def put_bytes(self, provider: FileAccessProvider, tmp_path: Path, uri: str, content: bytes) -> None:
        """Upload ``content`` to ``uri`` with put_data, from a local file."""
        src = tmp_path / "upload.bin"
        src.write_bytes(content)
        provider.put_data(str(src), uri)

    # --- files ----------------------------------------------------------------------------

    def test_file_round_trip(self, provider: FileAccessProvider, remote_root: str, tmp_path: Path) -> None:
        """A file uploaded and downloaded again has the same bytes."""
        src = tmp_path / "in.bin"
        src.write_bytes(os.urandom(70_000))
        uri = f"{remote_root}/files/in.bin"
        assert provider.put_data(str(src), uri) == uri
        dst = tmp_path / "out" / "in.bin"
        provider.get_data(uri, str(dst))
        assert dst.read_bytes() == src.read_bytes()

    def test_upload_overwrites_existing_object(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """Uploading to an existing object replaces its content."""
        uri = f"{remote_root}/over.txt"
        for content in (b"first version", b"second"):
            src = tmp_path / "v.txt"
            src.write_bytes(content)
            provider.upload(str(src), uri)
        assert self.read_remote(provider, uri) == b"second"

    def test_download_replaces_existing_local_file(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """A successful download replaces the destination file and leaves no temporary file."""
        uri = f"{remote_root}/d.txt"
        self.put_bytes(provider, tmp_path, uri, b"new content")
        dst = tmp_path / "dl" / "d.txt"
        dst.parent.mkdir()
        dst.write_bytes(b"old content that is longer")
        provider.download(uri, str(dst))
        assert dst.read_bytes() == b"new content"
        assert sorted(p.name for p in dst.parent.iterdir()) == ["d.txt"]

    def test_missing_source_is_data_not_found_and_keeps_destination(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """A download of a missing object raises DataNotFoundError; the local file is untouched."""
        dst = tmp_path / "keep.txt"
        dst.write_bytes(b"precious")
        with pytest.raises(DataNotFoundError, match="does not exist"):
            provider.get_data(f"{remote_root}/no/such/object.txt", str(dst))
        assert dst.read_bytes() == b"precious"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []

    def test_missing_folder_is_data_not_found(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """A folder download of a prefix with no objects raises DataNotFoundError."""
        with pytest.raises(DataNotFoundError):
            provider.download_directory(f"{remote_root}/nothing-here", str(tmp_path / "out"))

    def test_missing_local_source_is_data_not_found(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """Uploading a local path that does not exist raises DataNotFoundError naming it."""
        missing = tmp_path / "nope.txt"
        with pytest.raises(DataNotFoundError, match=r"nope\.txt does not exist"):
            provider.put_data(str(missing), f"{remote_root}/x.txt")

    def test_exists(self, provider: FileAccessProvider, remote_root: str, tmp_path: Path) -> None:
        """exists is True for an uploaded object and False for a missing one."""
        uri = f"{remote_root}/exists/e.txt"
        assert provider.exists(uri) is False
        self.put_bytes(provider, tmp_path, uri, b"e")
        assert provider.exists(uri) is True
        assert provider.exists(f"{remote_root}/exists/other.txt") is False

    # --- folders --------------------------------------------------------------------------

    def test_folder_round_trip(self, provider: FileAccessProvider, remote_root: str, tree: Tree) -> None:
        """A folder uploaded and downloaded again has the same files and bytes."""
        uri = f"{remote_root}/folder"
        provider.upload_directory(str(tree.root), uri)
        provider.download_directory(uri, str(tree.out))
        assert read_tree(tree.out) == tree.files

    def test_folder_upload_layout_does_not_depend_on_destination_existing(
        self, provider: FileAccessProvider, remote_root: str, tree: Tree
    ) -> None:
        """Uploading the same folder twice gives the same keys (no nested copy the second time)."""
        uri = f"{remote_root}/twice"
        provider.put_data(str(tree.root), uri, is_multipart=True)
        provider.put_data(str(tree.root), uri, is_multipart=True)
        provider.get_data(uri, str(tree.out), is_multipart=True)
        assert read_tree(tree.out) == tree.files

    def test_folder_download_into_existing_folder_keeps_layout(
        self, provider: FileAccessProvider, remote_root: str, tree: Tree
    ) -> None:
        """Downloading into an existing folder puts files at the same relative paths."""
        uri = f"{remote_root}/into-existing"
        provider.upload_directory(str(tree.root), uri)
        tree.out.mkdir()
        (tree.out / "already.txt").write_bytes(b"here before")
        provider.download_directory(uri, str(tree.out))
        assert read_tree(tree.out) == {**tree.files, "already.txt": b"here before"}

    def test_async_folder_round_trip(
        self, provider: FileAccessProvider, remote_root: str, tree: Tree
    ) -> None:
        """The async twins move folders too, awaited from a running event loop."""
        uri = f"{remote_root}/async"

        async def main() -> None:
            await provider.async_put_data(str(tree.root), uri, is_multipart=True)
            await provider.async_get_data(uri, str(tree.out), is_multipart=True)

        asyncio.run(main())
        assert read_tree(tree.out) == tree.files

    def test_sync_methods_work_inside_a_running_loop(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """put_data/get_data called from an async def (as in a notebook cell) do not deadlock."""
        src = tmp_path / "nb.txt"
        src.write_bytes(b"notebook")
        uri = f"{remote_root}/nb.txt"

        async def cell() -> bytes:
            provider.put_data(str(src), uri)
            provider.get_data(uri, str(tmp_path / "nb-out.txt"))
            return (tmp_path / "nb-out.txt").read_bytes()

        assert asyncio.run(cell()) == b"notebook"

    def test_many_threads_at_once(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """Eight threads uploading and downloading at once all succeed."""
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                src = tmp_path / f"t{i}.txt"
                src.write_bytes(f"thread {i}".encode())
                uri = f"{remote_root}/threads/t{i}.txt"
                provider.put_data(str(src), uri)
                provider.get_data(uri, str(tmp_path / "tout" / f"t{i}.txt"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert {p.read_bytes() for p in (tmp_path / "tout").iterdir()} == {
            f"thread {i}".encode() for i in range(8)
        }

    # --- raw data -------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("make", "expected"),
        [
            (lambda: b"raw bytes", b"raw bytes"),
            (lambda: io.BytesIO(b"bytes io" * 1000), b"bytes io" * 1000),
            (lambda: io.StringIO("text \u00e9\u00e8"), "text \u00e9\u00e8".encode()),
        ],
        ids=["bytes", "BytesIO", "StringIO"],
    )
    def test_put_raw_data_from_memory(self, provider: FileAccessProvider, make: Any, expected: bytes) -> None:
        """bytes and buffers land at raw_output_prefix/upload_prefix/file_name with their content."""
        uri = provider.put_raw_data(
            make(), upload_prefix="mem", file_name="blob.bin", read_chunk_size_bytes=7
        )
        assert uri == provider.join(provider.raw_output_prefix, "mem", "blob.bin")
        assert self.read_remote(provider, uri) == expected

    def test_put_raw_data_from_buffered_reader(self, provider: FileAccessProvider, tmp_path: Path) -> None:
        """An open binary file (BufferedReader) is uploaded in chunks."""
        src = tmp_path / "reader.bin"
        src.write_bytes(os.urandom(10_000))
        with open(src, "rb") as handle:
            uri = provider.put_raw_data(handle, file_name="reader.bin", read_chunk_size_bytes=999)
        assert self.read_remote(provider, uri) == src.read_bytes()

    def test_put_raw_data_file_keeps_its_name(self, provider: FileAccessProvider, tmp_path: Path) -> None:
        """A file path without file_name is stored under its own name in a random prefix."""
        src = tmp_path / "named.txt"
        src.write_bytes(b"named")
        uri = provider.put_raw_data(str(src))
        assert uri.startswith(provider.raw_output_prefix)
        assert uri.endswith("/named.txt")
        assert self.read_remote(provider, uri) == b"named"

    def test_put_raw_data_folder(self, provider: FileAccessProvider, tree: Tree) -> None:
        """A folder path is uploaded recursively under the prefix."""
        uri = provider.put_raw_data(str(tree.root), upload_prefix="dir-up")
        provider.get_data(uri, str(tree.out), is_multipart=True)
        assert read_tree(tree.out) == tree.files

    @pytest.mark.parametrize(
        ("upload_prefix", "file_name"),
        [("../escape", "x.txt"), ("ok", "../../x.txt"), ("a/../../b", None)],
    )
    def test_put_raw_data_refuses_escaping_names(
        self, provider: FileAccessProvider, upload_prefix: str, file_name: str | None
    ) -> None:
        """Names with '..' segments that could leave the raw output prefix are refused."""
        with pytest.raises(InvalidInputError, match=r"escapes .*without '\.\.' segments"):
            provider.put_raw_data(b"x", upload_prefix=upload_prefix, file_name=file_name)

    def test_put_raw_data_refuses_symlink(self, provider: FileAccessProvider, tmp_path: Path) -> None:
        """A symlink is refused rather than followed."""
        target = tmp_path / "target.txt"
        target.write_bytes(b"t")
        link = tmp_path / "link.txt"
        link.symlink_to(target)
        with pytest.raises(InvalidInputError, match="symlink"):
            provider.put_raw_data(str(link))

    def test_put_raw_data_refuses_unsupported_type(self, provider: FileAccessProvider) -> None:
        """An lpath of an unsupported type names the type and what is accepted."""
        with pytest.raises(InvalidInputError, match="cannot upload a int; pass a path, bytes"):
            provider.put_raw_data(42)  # type: ignore[arg-type]

    def test_put_raw_data_refuses_closed_buffer(self, provider: FileAccessProvider) -> None:
        """A closed buffer is an InvalidInputError, not a backend traceback."""
        buffer = io.BytesIO(b"gone")
        buffer.close()
        with pytest.raises(InvalidInputError, match="cannot read the BytesIO"):
            provider.put_raw_data(buffer, file_name="closed.bin")

    @pytest.mark.parametrize(
        ("make", "expected"),
        [
            (lambda: io.BytesIO(b"0123456789"), b"0123456789"),
            (lambda: io.StringIO("text \u00e9"), "text \u00e9".encode()),
        ],
        ids=["BytesIO", "StringIO"],
    )
    def test_put_raw_data_rewinds_buffer(
        self, provider: FileAccessProvider, make: Any, expected: bytes
    ) -> None:
        """A buffer is uploaded from its start: uploaded twice, or after a partial read, it is whole.

        flytekit 1.16 rewinds too; persist used to read from the current position, so the
        second upload of the same buffer was empty.
        """
        buffer = make()
        buffer.read(3)
        first = provider.put_raw_data(buffer, upload_prefix="rewind", file_name="first.bin")
        second = provider.put_raw_data(buffer, upload_prefix="rewind", file_name="second.bin")
        assert self.read_remote(provider, first) == expected
        assert self.read_remote(provider, second) == expected

    def test_put_raw_data_reads_pipe_from_where_it_is(self, provider: FileAccessProvider) -> None:
        """A stream that cannot seek (a pipe) is uploaded from its current position."""
        read_fd, write_fd = os.pipe()
        with os.fdopen(write_fd, "wb") as writer:
            writer.write(b"header|payload")
        with os.fdopen(read_fd, "rb") as reader:
            assert not reader.seekable()
            reader.read(len(b"header|"))
            uri = provider.put_raw_data(reader, file_name="pipe.bin")
        assert self.read_remote(provider, uri) == b"payload"

    def test_put_raw_data_refuses_write_only_file(self, provider: FileAccessProvider, tmp_path: Path) -> None:
        """A file opened for writing is refused up front, naming its type and what to pass."""
        with (
            open(tmp_path / "out.bin", "wb") as handle,
            pytest.raises(
                InvalidInputError,
                match=r"cannot read the BufferedWriter to upload: it is not readable \(readable\(\) is",
            ),
        ):
            provider.put_raw_data(handle, file_name="w.bin")

    def test_put_raw_data_refuses_unreadable_buffer(self, provider: FileAccessProvider) -> None:
        """A BytesIO whose readable() is False is refused, as flytekit refuses it, and nothing is stored."""

        class WriteOnly(io.BytesIO):
            def readable(self) -> bool:
                return False

        with pytest.raises(
            InvalidInputError, match=r"cannot read the WriteOnly to upload: it is not readable"
        ):
            provider.put_raw_data(WriteOnly(b"secret"), upload_prefix="refused", file_name="w.bin")
        assert not provider.exists(provider.join(provider.raw_output_prefix, "refused", "w.bin"))


class RemoteContract(ProviderContract):
    """ProviderContract plus user metadata on stored objects (object stores only)."""

    def object_metadata(self, provider: FileAccessProvider, uri: str) -> dict[str, str]:
        """The user metadata stored on ``uri``; each backend says how to read it."""
        raise NotImplementedError

    def expected_metadata(self) -> dict[str, str]:
        return dict(METADATA)

    def assert_has_metadata(self, provider: FileAccessProvider, uri: str) -> None:
        stored = self.object_metadata(provider, uri)
        for key, value in self.expected_metadata().items():
            assert stored.get(key) == value, (key, stored)

    def test_metadata_on_file_upload(
        self, provider: FileAccessProvider, remote_root: str, tmp_path: Path
    ) -> None:
        """Execution metadata reaches an uploaded file's user metadata."""
        uri = f"{remote_root}/meta/m.txt"
        self.put_bytes(provider, tmp_path, uri, b"m")
        self.assert_has_metadata(provider, uri)

    def test_metadata_on_folder_upload(
        self, provider: FileAccessProvider, remote_root: str, tree: Tree
    ) -> None:
        """Execution metadata reaches every object of a folder upload."""
        uri = f"{remote_root}/meta-folder"
        provider.upload_directory(str(tree.root), uri)
        for rel in tree.files:
            self.assert_has_metadata(provider, f"{uri}/{rel}")

    def test_metadata_on_raw_bytes(self, provider: FileAccessProvider) -> None:
        """Execution metadata reaches objects written from bytes."""
        uri = provider.put_raw_data(b"meta bytes", file_name="mb.bin")
        self.assert_has_metadata(provider, uri)

    def test_no_metadata_when_switched_off(
        self, tmp_path: Path, data_config: DataConfig, remote_root: str
    ) -> None:
        """With generic.attach_execution_metadata off, no execution metadata is stored."""
        config = data_config.model_copy(
            update={"generic": data_config.generic.model_copy(update={"attach_execution_metadata": False})}
        )
        provider = FileAccessProvider(
            tmp_path / "sb", f"{remote_root}/raw/", config, execution_metadata=METADATA
        )
        uri = provider.put_raw_data(b"plain", file_name="plain.bin")
        stored = self.object_metadata(provider, uri)
        assert not set(self.expected_metadata()) & set(stored)
