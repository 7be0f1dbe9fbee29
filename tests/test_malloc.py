"""persist fixes glibc's mmap threshold for its part buffers, unless the process set its own."""

from __future__ import annotations

import pytest

from persist._obstore import malloc_tuned_by_user


@pytest.mark.parametrize(
    ("environ", "tuned"),
    [
        ({}, False),
        ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, False),
        ({"MALLOC_MMAP_THRESHOLD_": "131072"}, True),
        ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"}, True),
    ],
)
def test_a_threshold_set_by_the_user_is_kept(environ: dict[str, str], tuned: bool) -> None:
    assert malloc_tuned_by_user(environ) is tuned
