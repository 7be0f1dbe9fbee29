"""Folder downloads stream their listing: files start before the listing ends, keys are checked per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from persist import FileAccessProvider, InvalidInputError
from tests.integration.test_s3 import s3_config


class Recorder:
    """A progress listener that keeps every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int | None, int | None]] = []

    def __call__(
        self, files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
    ) -> None:
        self.calls.append((files, nbytes, total_files, total_bytes))

    def files_before_totals(self) -> int:
        """Files finished before the listing's totals arrived, i.e. before the listing ended."""
        done = 0
        for files, _, total, _ in self.calls:
            if total is not None:
                return done
            done += files
        raise AssertionError(f"no totals were reported: {self.calls[:5]}...")


def test_local_folder_download_starts_before_its_listing_ends(tmp_path: Path) -> None:
    """A local folder of 2,500 files (three listing batches) copies its first files before the
    walk is complete; every file arrives intact and the totals are the whole folder's."""
    src = tmp_path / "src"
    for i in range(2500):
        sub = src / f"d{i // 500}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:04d}.txt").write_bytes(b"%d" % i)
    provider = FileAccessProvider(str(tmp_path / "sandbox"), str(tmp_path / "raw"))
    recorder = Recorder()
    provider.get_data(str(src), str(tmp_path / "out"), is_multipart=True, progress=recorder)
    assert recorder.files_before_totals() >= 1000
    totals = [call[2:] for call in recorder.calls if call[2] is not None]
    size = sum(len(b"%d" % i) for i in range(2500))
    assert totals == [(2500, size)]
    back = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(back) == 2500
    assert (tmp_path / "out" / "d4" / "f2499.txt").read_bytes() == b"2499"


@pytest.mark.parametrize("engine", ["obstore", "fsspec"])
def test_remote_folder_download_starts_before_its_listing_ends(
    engine: str, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The listing waits while downloads catch up: with one file at a time (two may wait) and
    listing batches of 10, most of a 50-object folder is complete before the listing's totals
    (its end) arrive, on both engines; all 50 arrive intact."""
    monkeypatch.setattr("persist._backend.LIST_BATCH", 10)
    for i in range(50):
        s3_admin_client.put_object(Bucket=s3_bucket, Key=f"tree/k{i:02d}", Body=b"v%d" % i)
    provider = FileAccessProvider(
        str(tmp_path / "sandbox"),
        f"s3://{s3_bucket}/raw",
        s3_config(s3_endpoint, engine=engine, max_concurrency=1),
    )
    recorder = Recorder()
    provider.get_data(f"s3://{s3_bucket}/tree", str(tmp_path / "out"), is_multipart=True, progress=recorder)
    # Full batches go at once: the last one's last job waits for 48 taken, 47 done.
    assert recorder.files_before_totals() >= 47
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"k{i:02d}" for i in range(50)]
    assert (tmp_path / "out" / "k49").read_bytes() == b"v49"


class TestBadKeyInLaterBatch:
    """A key with '..' segments stops a streamed folder download before any file of its batch
    starts: nothing escapes, and only files of earlier batches can be complete.

    s3fs lists such keys (obstore refuses the whole page), so the fsspec engine serves these,
    with listing batches of 2 and one file at a time (two may wait).
    """

    @pytest.fixture
    def provider(
        self, s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: Any
    ) -> FileAccessProvider:
        monkeypatch.setattr("persist._backend.LIST_BATCH", 2)
        config = s3_config(s3_endpoint, engine="fsspec", max_concurrency=1)
        return FileAccessProvider(str(tmp_path / "sandbox"), f"s3://{s3_bucket}/raw", config)

    def test_bad_key_in_third_batch_stops_after_the_files_already_started(
        self, provider: FileAccessProvider, s3_bucket: str, s3_admin_client: Any, tmp_path: Path
    ) -> None:
        """Batches a, b | c, d | bad: the bad batch fails before its own files start; files of
        the earlier batches that were taken finish (one at a time, in order: a, then b...), the
        rest are dropped. How many were taken depends on how fast the store answers the third
        page (s3fs lists each page of 2 with its own request), never on the bad key."""
        for name in ("a", "b", "c", "d"):
            s3_admin_client.put_object(Bucket=s3_bucket, Key=f"evil/{name}.txt", Body=name.encode())
        s3_admin_client.put_object(Bucket=s3_bucket, Key="evil/x/../../../escaped.txt", Body=b"evil")
        target = tmp_path / "deep" / "target"
        with pytest.raises(InvalidInputError, match=r"'\.\.' segments"):
            provider.download_directory(f"s3://{s3_bucket}/evil", str(target))
        names = sorted(p.name for p in target.iterdir())
        assert names == ["a.txt", "b.txt", "c.txt", "d.txt"][: len(names)]
        assert len(names) >= 2
        for path in target.iterdir():
            assert path.read_bytes() == path.stem.encode()
        assert not (tmp_path / "escaped.txt").exists()
        assert not (tmp_path / "deep" / "escaped.txt").exists()

    def test_bad_key_stops_its_own_batch_before_any_file_starts(
        self, provider: FileAccessProvider, s3_bucket: str, s3_admin_client: Any, tmp_path: Path
    ) -> None:
        """One batch, a.txt then the bad key: a.txt is not written."""
        s3_admin_client.put_object(Bucket=s3_bucket, Key="evil/a.txt", Body=b"a")
        s3_admin_client.put_object(Bucket=s3_bucket, Key="evil/x/../../../escaped.txt", Body=b"evil")
        target = tmp_path / "target"
        with pytest.raises(InvalidInputError, match=r"'\.\.' segments"):
            provider.download_directory(f"s3://{s3_bucket}/evil", str(target))
        assert not target.exists() or [p for p in target.rglob("*") if p.is_file()] == []
        assert not (tmp_path.parent / "escaped.txt").exists()


@pytest.mark.parametrize("engine", ["obstore", "fsspec"])
def test_missing_remote_folder_makes_no_target_folder(
    engine: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """The target folder is made with the first batch of the listing: a missing remote folder
    raises DataNotFoundError and leaves no empty target behind."""
    from persist import DataNotFoundError

    provider = FileAccessProvider(
        str(tmp_path / "sandbox"), f"s3://{s3_bucket}/raw", s3_config(s3_endpoint, engine=engine)
    )
    with pytest.raises(DataNotFoundError):
        provider.download_directory(f"s3://{s3_bucket}/nothing-here", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
