"""The behaviour contract on the local filesystem (plain paths and file:// URIs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from persist import DataConfig, FileAccessProvider, InvalidInputError
from tests.integration.contract import ProviderContract


class TestLocalPaths(ProviderContract):
    """Plain local paths."""

    scheme = ""

    @pytest.fixture
    def data_config(self) -> DataConfig:
        return DataConfig()

    @pytest.fixture
    def remote_root(self, tmp_path: Path) -> str:
        root = tmp_path / "store"
        root.mkdir()
        return f"{self.scheme}{root}"


class TestFileUris(TestLocalPaths):
    """file:// URIs."""

    scheme = "file://"


def test_local_recursive_get_refuses_symlink_out_of_target(tmp_path: Path) -> None:
    """A folder download never writes through a symlink that leads outside the target."""
    provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    (src / "f.txt").write_bytes(b"f")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    with pytest.raises(InvalidInputError, match="outside"):
        provider.download_directory(str(tmp_path / "src"), str(target))
    assert list(outside.iterdir()) == []


def test_failed_local_download_leaves_no_partial_file(tmp_path: Path) -> None:
    """A download whose source is a folder (not a file) fails and leaves the destination alone."""
    provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
    (tmp_path / "srcdir").mkdir()
    dst = tmp_path / "dst.txt"
    dst.write_bytes(b"keep me")
    with pytest.raises(InvalidInputError, match="is a folder"):
        provider.get_data(str(tmp_path / "srcdir"), str(dst))
    assert dst.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.txt", "sb", "srcdir"]
