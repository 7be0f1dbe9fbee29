"""The local-disk copy: kernel copies with fallbacks, special files refused, nothing half-written."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from persist import (
    DataConfig,
    FileAccessProvider,
    UploadError,
    _local,
    _transfer,
)
from persist._backend import write_file
from persist._local import copy_file, ensure_folder, temp_path

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="procfs and FIFOs as Linux has them")


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 1024 * 1024 + 7])
def test_copy_is_byte_exact(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    assert copy_file(str(tmp_path / "src"), str(tmp_path / "dst")) == size
    assert (tmp_path / "dst").read_bytes() == data


def test_copy_without_kernel_help_reads_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where neither copy_file_range nor sendfile exists, the bytes go through Python."""
    monkeypatch.setattr(_local, "_KERNEL_COPIES", ())
    data = os.urandom(2 * 1024 * 1024 + 3)
    (tmp_path / "src").write_bytes(data)
    assert copy_file(str(tmp_path / "src"), str(tmp_path / "dst")) == len(data)
    assert (tmp_path / "dst").read_bytes() == data


@linux_only
def test_file_without_a_size_is_read_to_its_end(tmp_path: Path) -> None:
    """/proc files report size 0 and live on another filesystem: the copy falls back and reads all."""
    expected = Path("/proc/version").read_bytes()
    assert expected
    assert copy_file("/proc/version", str(tmp_path / "version")) == len(expected)
    assert (tmp_path / "version").read_bytes() == expected


def test_copy_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        copy_file(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert (tmp_path / "dst").read_bytes() == b"old"


def test_folder_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        copy_file(str(tmp_path / "folder"), str(tmp_path / "dst"))
    assert not (tmp_path / "dst").exists()


@linux_only
def test_named_pipe_in_a_folder_upload_fails_at_once(tmp_path: Path) -> None:
    """A FIFO among the files is refused (not waited on) and named; no temporary file remains."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    os.mkfifo(src / "b.pipe")
    dst = tmp_path / "dst"
    provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
    outcome: list[BaseException | None] = []

    def upload() -> None:
        try:
            provider.put_data(str(src), str(dst), is_multipart=True)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=upload, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the upload waited on the named pipe"
    [error] = outcome
    assert isinstance(error, UploadError)
    assert "b.pipe" in str(error)
    assert "not a regular file" in str(error)
    assert (dst / "a.txt").read_bytes() == b"a"
    assert sorted(p.name for p in dst.iterdir()) == ["a.txt"]


def test_temp_names_are_fresh_hidden_and_beside_the_target(tmp_path: Path) -> None:
    names = {temp_path(str(tmp_path), "out.bin") for _ in range(1000)}
    assert len(names) == 1000
    for name in names:
        assert os.path.dirname(name) == str(tmp_path)
        assert os.path.basename(name).startswith(".out.bin.")
        assert name.endswith(".part")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_temp_names_differ_in_a_forked_child(tmp_path: Path) -> None:
    """A forked child draws its own token and pid, so parent and child never pick one name."""
    target = "out.bin"
    parent = temp_path(str(tmp_path), target)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one name and leave at once
        os.write(write, temp_path(str(tmp_path), target).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)

    def token_and_pid(name: str) -> str:
        return name.rsplit(".", 2)[1].rpartition("-")[0]

    assert token_and_pid(child) != token_and_pid(parent)
    assert token_and_pid(child).endswith(f"{pid:x}")


class TestSized:
    """Folder uploads look up file sizes a batch at a time, ahead of the uploads."""

    def test_sizes_in_order_with_none_for_a_file_that_is_gone(self, tmp_path: Path) -> None:
        files = []
        for i in range(5):
            path = tmp_path / f"f{i}"
            path.write_bytes(b"x" * i)
            files.append((str(path), f"f{i}"))
        files.insert(2, (str(tmp_path / "gone"), "gone"))
        sized = list(_transfer._sized(iter(files), batch=2))
        assert sized == [
            (str(tmp_path / "f0"), "f0", 0),
            (str(tmp_path / "f1"), "f1", 1),
            (str(tmp_path / "gone"), "gone", None),
            (str(tmp_path / "f2"), "f2", 2),
            (str(tmp_path / "f3"), "f3", 3),
            (str(tmp_path / "f4"), "f4", 4),
        ]

    def test_reads_no_more_than_one_batch_ahead(self, tmp_path: Path) -> None:
        taken = 0

        def source() -> Iterator[tuple[str, str]]:
            nonlocal taken
            for i in range(10):
                taken += 1
                yield str(tmp_path), f"f{i}"

        sized = _transfer._sized(source(), batch=3)
        next(sized)
        assert taken == 3

    def test_a_batch_is_looked_up_before_its_first_file_is_handed_on(self, tmp_path: Path) -> None:
        files = []
        for i in range(3):
            (tmp_path / f"f{i}").write_bytes(b"x" * (i + 1))
            files.append((str(tmp_path / f"f{i}"), f"f{i}"))
        sized = _transfer._sized(iter(files), batch=3)
        assert next(sized)[2] == 1
        (tmp_path / "f2").unlink()
        assert [size for _, _, size in sized] == [2, 3]


def _folder(root: Path, count: int, per_folder: int = 25) -> dict[str, bytes]:
    """``count`` files of random sizes under ``root``, ``per_folder`` to a sub-folder."""
    files = {}
    for i in range(count):
        rel = f"d{i // per_folder:02d}/f{i:04d}.bin"
        data = os.urandom(i * 37 % 5000)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        files[rel] = data
    return files


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden temporary files included) by relative posix path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class TestFolderCopy:
    """Folder copies on the local disk: every file exact, each written atomically."""

    @pytest.mark.parametrize("direction", ["put", "get"])
    def test_folder_copy_is_exact_with_no_temporary_files(self, tmp_path: Path, direction: str) -> None:
        src = tmp_path / "src"
        files = _folder(src, 300)
        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
        dst = tmp_path / "dst"
        if direction == "put":
            provider.put_data(str(src), str(dst), is_multipart=True)
        else:
            provider.get_data(str(src), str(dst), is_multipart=True)
        assert _tree(dst) == files

    def test_existing_files_are_replaced(self, tmp_path: Path) -> None:
        """A second copy over the first replaces every file (by rename) and leaves nothing else."""
        src = tmp_path / "src"
        _folder(src, 60)
        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
        dst = tmp_path / "dst"
        provider.put_data(str(src), str(dst), is_multipart=True)
        files = _folder(src, 60, per_folder=25)  # new random contents, same names
        provider.put_data(str(src), str(dst), is_multipart=True)
        assert _tree(dst) == files

    def test_without_dir_fd_support_paths_are_used(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Where the platform cannot open files by name in an open folder, whole paths still work."""
        monkeypatch.setattr(_local, "_DIR_FDS", False)
        src = tmp_path / "src"
        files = _folder(src, 80)
        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
        provider.put_data(str(src), str(tmp_path / "dst"), is_multipart=True)
        assert _tree(tmp_path / "dst") == files

    def test_progress_counts_every_file_and_byte_once(self, tmp_path: Path) -> None:
        src = tmp_path / "src"
        files = _folder(src, 200)
        calls: list[tuple[int, int, int | None, int | None]] = []
        lock = threading.Lock()

        def progress(
            files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
        ) -> None:
            with lock:
                calls.append((files, nbytes, total_files, total_bytes))

        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
        provider.get_data(str(src), str(tmp_path / "dst"), is_multipart=True, progress=progress)
        assert sum(c[0] for c in calls) == len(files)
        assert sum(c[1] for c in calls) == sum(len(d) for d in files.values())
        assert [c[2:] for c in calls if c[2] is not None] == [
            (len(files), sum(len(d) for d in files.values()))
        ]

    @linux_only
    def test_failure_stops_the_copy_and_leaves_no_partial_file(self, tmp_path: Path) -> None:
        """A named pipe among 400 files fails the copy, named; every file left is complete."""
        src = tmp_path / "src"
        files = _folder(src, 400)
        os.mkfifo(src / "d05" / "f0130.pipe")
        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())
        dst = tmp_path / "dst"
        with pytest.raises(UploadError, match=r"f0130\.pipe") as caught:
            provider.put_data(str(src), str(dst), is_multipart=True)
        assert "not a regular file" in str(caught.value)
        left = _tree(dst)
        assert [name for name in left if name.rsplit("/", 1)[-1].startswith(".")] == []
        assert {name: files[name] for name in left} == left
        assert len(left) < len(files)  # it stopped: the files after the pipe were not copied

    def test_cancelled_copy_leaves_complete_files_only(self, tmp_path: Path) -> None:
        """Cancelling an async folder copy stops it; no temporary file remains."""
        src = tmp_path / "src"
        src.mkdir()
        size = 48 * 1024 * 1024
        for i in range(8):
            with open(src / f"f{i}.bin", "wb") as handle:
                handle.truncate(size)  # sparse: instant to make, real bytes to copy
        dst = tmp_path / "dst"
        provider = FileAccessProvider(tmp_path / "sb", str(tmp_path / "raw"), DataConfig())

        async def cancel_mid_way() -> None:
            task = asyncio.ensure_future(provider.async_put_data(str(src), str(dst), is_multipart=True))
            while not (dst.is_dir() and any(p.name.endswith(".part") for p in dst.iterdir())):
                assert not task.done(), "the copy ended before it could be cancelled"
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(cancel_mid_way())
        left = sorted(p.name for p in dst.iterdir())
        assert [name for name in left if name.startswith(".")] == []
        assert [(dst / name).stat().st_size for name in left] == [size] * len(left)
        assert len(left) < 8


@pytest.mark.parametrize("data", [b"", b"x" * 1024, bytearray(os.urandom(70_000)), memoryview(b"abc\x00def")])
def test_write_file_writes_every_byte_and_truncates(
    tmp_path: Path, data: bytes | bytearray | memoryview
) -> None:
    """A retried download writes its temporary file again: nothing of the first attempt stays."""
    target = tmp_path / "part"
    target.write_bytes(b"left over from an attempt that failed" * 100)
    write_file(str(target), data)
    assert target.read_bytes() == bytes(data)


def test_write_file_finishes_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that takes fewer bytes than given (a signal, a pipe-like file) is continued."""
    real_write = os.write
    calls = []

    def short_write(fd: int, view: memoryview) -> int:
        calls.append(len(view))
        return real_write(fd, view[:7])

    monkeypatch.setattr(os, "write", short_write)
    data = os.urandom(100)
    write_file(str(tmp_path / "f"), data)
    assert (tmp_path / "f").read_bytes() == data
    assert len(calls) == 15


def test_ensure_folder_makes_parents_and_accepts_an_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b" / "c"
    ensure_folder(str(folder))
    ensure_folder(str(folder))
    assert folder.is_dir()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):
        ensure_folder(str(tmp_path / "file"))
