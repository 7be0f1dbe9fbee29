"""The dependency matrix's contract: testable lower bounds, and scripts/matrix's command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def runtime_requirements() -> list[Requirement]:
    """persist's runtime dependencies, as pyproject.toml declares them."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_every_runtime_dependency_has_a_lower_bound() -> None:
    """Each dependency says `>=`: the lowest leg installs exactly that bound, so it is tested.

    Without one, lowest-direct resolution would pick the package's first release ever, and a
    user's resolver anything at all.
    """
    unbounded = [str(r) for r in runtime_requirements() if not any(s.operator == ">=" for s in r.specifier)]
    assert unbounded == []


def run_matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "matrix"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unknown_leg_is_a_usage_error() -> None:
    """A leg name that is not newest/lowest[-3.X] exits 2 naming it and the allowed forms."""
    proc = run_matrix("oldest")
    assert proc.returncode == 2
    assert proc.stderr == (
        "matrix: error: unknown leg 'oldest'; legs are newest, lowest, newest-3.X or lowest-3.X\n"
    )


def test_help_documents_the_legs() -> None:
    """--help prints the header: the legs and how the lowest one resolves."""
    proc = run_matrix("--help")
    assert proc.returncode == 0
    assert "--resolution lowest-direct" in proc.stdout
    assert "bash scripts/matrix lowest-3.11" in proc.stdout
