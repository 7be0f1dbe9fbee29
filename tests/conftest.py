"""Fixtures and settings shared by every test: a clean environment, a Hypothesis profile, CLI helpers."""

from __future__ import annotations

import os

# Before anything imports gcsfs: with this enabled, recent gcsfs asks a gRPC control API for the
# bucket type before most operations, which stalls for about a minute against an emulator.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from persist._fs import clear_filesystem_cache

CLEARED_ENV_PREFIXES = ("PERSIST_", "FLYTE_", "FLYTECTL_", "_F_P_", "AWS_", "AZURE_", "GOOGLE_")
"""Environment variables with these prefixes configure storage clients; no test inherits them."""

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop every storage-related variable; tests set what they need with ``monkeypatch.setenv``.

    ``AWS_EC2_METADATA_DISABLED`` is then set again: no test may wait on botocore probing an
    instance-metadata server that does not exist here.
    """
    for name in list(os.environ):
        if name.upper().startswith(CLEARED_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner; it shares os.environ, so monkeypatch.setenv reaches the command."""
    return CliRunner()


@pytest.fixture
def fresh_filesystems() -> Iterator[None]:
    """Filesystems are cached per config process-wide; no test sees another test's."""
    clear_filesystem_cache()
    yield
    clear_filesystem_cache()
