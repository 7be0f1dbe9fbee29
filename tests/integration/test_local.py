"""The behaviour contract on the local filesystem (plain paths and file:// URIs)."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_readme_quick_start_runs_and_round_trips(tmp_path: Path) -> None:
    """examples/quickstart.py, the README's first command: every upload comes back byte for byte."""
    example = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "downloaded a.csv: b'x,y\\n1,2\\n'" in lines
    assert "downloaded nested/b.txt: b'hello'" in lines
    assert "downloaded note.txt: b'caf\\xc3\\xa9'" in lines
    assert lines[-2].endswith("blob.bin) = True")
    (work,) = tmp_path.glob("persist-quickstart-*")
    assert lines[-1] == f"everything is in {work}: look around, then delete it"
    assert (work / "store" / "run-1" / "blob.bin").read_bytes() == b"\x00\x01\x02"
