"""The shape issue 17 asks for, checked on the source: one core over backends that stand alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import persist

PACKAGE = Path(persist.__file__).parent
BACKENDS = ("_fsspec_backend", "_obstore", "_local")


def imported_modules(module: str) -> set[str]:
    """Every ``persist.*`` module that ``persist/<module>.py`` imports (at any level)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("persist"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("persist"))
    return found


def names_used(module: str) -> set[str]:
    """Every variable and attribute name the code of ``persist/<module>.py`` uses."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names | {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_transfer_core_knows_no_protocol() -> None:
    """The core branches on no protocol, engine or "local": what differs lives in the backends."""
    forbidden = {"S3_PROTOCOLS", "AZURE_PROTOCOLS", "GCS_PROTOCOLS", "FILE_PROTOCOLS"}
    assert not names_used("_transfer") & (forbidden | {"local", "engine", "protocol"})
    assert "persist.options" not in imported_modules("_transfer")


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_do_not_import_each_other(backend: str) -> None:
    """No backend reaches into another: what they share is in _backend.py."""
    others = {f"persist.{other}" for other in BACKENDS if other != backend}
    assert not imported_modules(backend) & others


def test_cli_uses_no_private_provider_api() -> None:
    """The CLI calls the provider's public methods only (no ``provider._transfer``)."""
    source = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    assert "provider._" not in source
