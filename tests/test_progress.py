"""The fsspec callback adapter that turns every backend's progress reports into Progress calls."""

from __future__ import annotations

from persist._transfer import _byte_callback

Call = tuple[int, int, int | None, int | None]


def recorder() -> tuple[list[Call], object]:
    """A list and a Progress listener that appends each call to it."""
    calls: list[Call] = []

    def progress(
        files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
    ) -> None:
        calls.append((files, nbytes, total_files, total_bytes))

    return calls, progress


class TestByteCallback:
    def test_no_listener_no_callback(self) -> None:
        """Without a listener there is no callback at all (the backend skips the bookkeeping)."""
        assert _byte_callback(None) is None

    def test_running_count_becomes_increments(self) -> None:
        """gcsfs/adlfs style: absolute_update with the running count; each byte forwarded once."""
        calls, progress = recorder()
        callback = _byte_callback(progress)  # type: ignore[arg-type]
        callback.set_size(30)
        for value in (10, 10, 25, 30):
            callback.absolute_update(value)
        assert calls == [(0, 10, None, None), (0, 15, None, None), (0, 5, None, None)]
        assert callback.value == 30

    def test_increments_forwarded(self) -> None:
        """s3fs/obstore style: relative_update increments are forwarded as they come."""
        calls, progress = recorder()
        callback = _byte_callback(progress)  # type: ignore[arg-type]
        callback.relative_update(7)
        callback.relative_update(3)
        assert [c[1] for c in calls] == [7, 3]
        assert callback.value == 10

    def test_single_file_size_is_the_total_once(self) -> None:
        """For a one-file transfer the first set_size is passed on as the totals, once."""
        calls, progress = recorder()
        callback = _byte_callback(progress, single=True)  # type: ignore[arg-type]
        callback.set_size(100)
        callback.set_size(100)  # adlfs repeats it with every response
        assert calls == [(0, 0, 1, 100)]

    def test_file_of_a_folder_reports_no_totals(self) -> None:
        """A file of a folder transfer leaves the totals to the listing."""
        calls, progress = recorder()
        _byte_callback(progress).set_size(100)  # type: ignore[arg-type]
        assert calls == []

    def test_restart_takes_back_a_failed_attempt(self) -> None:
        """Before a retry, the failed attempt's bytes are taken back, so the sum stays right."""
        calls, progress = recorder()
        callback = _byte_callback(progress)  # type: ignore[arg-type]
        callback.relative_update(40)
        assert callback.restart() is callback
        callback.relative_update(100)
        assert sum(c[1] for c in calls) == 100
        assert callback.restart().restart() is callback
        assert sum(c[1] for c in calls) == 0
