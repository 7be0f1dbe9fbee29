"""The server helpers report the process id of the server they started."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.clients import process_cpu_seconds
from tests.integration.servers import azurite_server, moto_server


def _moto(on_start: Callable[[int], None]) -> contextlib.AbstractContextManager[str]:
    return moto_server(on_start=on_start)


@contextlib.contextmanager
def _azurite(on_start: Callable[[int], None]) -> Iterator[str]:
    with azurite_server(on_start=on_start) as info:
        yield f"{info.blob_endpoint}?comp=list"


@pytest.mark.parametrize(
    ("start", "program"),
    [pytest.param(_moto, "moto", id="moto"), pytest.param(_azurite, "azurite", id="azurite")],
)
def test_on_start_names_the_process_that_answers(start: Callable[..., Any], program: str) -> None:
    """The reported process runs the server, and requests to the server add to its CPU time."""
    pids: list[int] = []
    with start(pids.append) as url:
        assert len(pids) == 1
        assert program in Path(f"/proc/{pids[0]}/cmdline").read_bytes().decode(errors="replace")
        before = process_cpu_seconds(pids[0])
        assert before is not None
        for _ in range(300):
            with contextlib.suppress(urllib.error.HTTPError), urllib.request.urlopen(url, timeout=10):
                pass
        after = process_cpu_seconds(pids[0])
        assert after is not None
        assert after > before
    assert process_cpu_seconds(pids[0]) is None
