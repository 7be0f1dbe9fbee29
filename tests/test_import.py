"""Importing persist is light: no backend imports, no files, lazy attributes built once."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import persist

HEAVY_MODULES = (
    "s3fs",
    "gcsfs",
    "adlfs",
    "botocore",
    "aiobotocore",
    "azure",
    "google",
    "fsspec",
    "aiohttp",
    "yaml",
)
"""Top-level packages that must stay unimported until a filesystem (or YAML file) is needed."""

_PRELUDE = f"""
import json, os, sys
HEAVY = {HEAVY_MODULES!r}

def heavy():
    return sorted({{name.split(".")[0] for name in sys.modules}} & set(HEAVY))

def tmp_entries():
    return sorted(os.listdir(os.environ["TMPDIR"]))
"""


def run_python(code: str, tmpdir: pathlib.Path) -> Any:
    """Run ``code`` in a fresh interpreter with ``TMPDIR=tmpdir``; return the JSON it prints last."""
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    script = _PRELUDE + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def fresh_tmpdir(tmp_path: pathlib.Path) -> pathlib.Path:
    """An empty directory for the child interpreter's TMPDIR."""
    directory = tmp_path / "tmpdir"
    directory.mkdir()
    return directory


@pytest.fixture(scope="module")
def after_import(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What one fresh interpreter sees right after ``import persist``."""
    tmpdir = tmp_path_factory.mktemp("import-tmpdir")
    result: dict[str, Any] = run_python(
        """
        import persist
        print(json.dumps({"heavy": heavy(), "tmp": tmp_entries()}))
        """,
        tmpdir,
    )
    return result


class TestImport:
    def test_imports_no_backend(self, after_import: dict[str, Any]) -> None:
        """``import persist`` imports none of the storage backends, fsspec, aiohttp or yaml."""
        assert after_import["heavy"] == []

    def test_creates_no_directory(self, after_import: dict[str, Any]) -> None:
        """``import persist`` creates nothing in TMPDIR."""
        assert after_import["tmp"] == []

    def test_data_config_auto_imports_no_backend(self, fresh_tmpdir: pathlib.Path) -> None:
        """Reading the config from the environment imports no storage backend."""
        result = run_python(
            """
            import persist
            persist.DataConfig.auto()
            print(json.dumps(heavy()))
            """,
            fresh_tmpdir,
        )
        assert result == []

    def test_validate_imports_no_backend(self, fresh_tmpdir: pathlib.Path) -> None:
        """``persist validate`` on a file reads YAML but imports no backend, fsspec or obstore."""
        example = pathlib.Path(__file__).parents[1] / "config-examples" / "s3-moto.yaml"
        result = run_python(
            f"""
            import contextlib, io
            from persist.cli import main
            sys.argv = ["persist", "validate", {str(example)!r}]
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
                main()
            print(json.dumps([out.getvalue(), heavy(), "obstore" in sys.modules]))
            """,
            fresh_tmpdir,
        )
        assert result == [f"{example}: OK\n", ["yaml"], False]

    def test_imports_no_settings_library(self, fresh_tmpdir: pathlib.Path) -> None:
        """``import persist`` (and building models) leaves pydantic-settings for the first load."""
        result = run_python(
            """
            import persist
            persist.DataConfig(s3=persist.S3Config(retries=2))
            print(json.dumps(sorted(m for m in sys.modules if m.startswith("pydantic_settings"))))
            """,
            fresh_tmpdir,
        )
        assert result == []

    def test_sources_do_not_import_the_config_module(self, fresh_tmpdir: pathlib.Path) -> None:
        """The sources receive the model class: importing them imports no persist.config."""
        result = run_python(
            """
            import persist._sources
            print(json.dumps("persist.config" in sys.modules))
            """,
            fresh_tmpdir,
        )
        assert result is False


class TestFlyteTmpDir:
    def test_created_once_on_access(self, fresh_tmpdir: pathlib.Path) -> None:
        """Accessing ``flyte_tmp_dir`` creates exactly one directory in TMPDIR and returns it every time."""
        result = run_python(
            """
            import persist
            first = persist.flyte_tmp_dir
            second = persist.flyte_tmp_dir
            print(json.dumps({"first": first, "second": second, "tmp": tmp_entries(),
                              "isdir": os.path.isdir(first)}))
            """,
            fresh_tmpdir,
        )
        assert result["first"] == result["second"]
        assert result["isdir"]
        assert len(result["tmp"]) == 1
        assert pathlib.Path(result["first"]) == fresh_tmpdir / result["tmp"][0]


class TestDefaultProvider:
    def test_built_once_across_threads(self, fresh_tmpdir: pathlib.Path) -> None:
        """Eight threads reading ``default_local_file_access_provider`` at once get one object."""
        result = run_python(
            """
            import threading
            import persist

            barrier = threading.Barrier(8)
            ids = []

            def read():
                barrier.wait()
                ids.append(id(persist.default_local_file_access_provider))

            threads = [threading.Thread(target=read) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(json.dumps({"ids": ids, "tmp": tmp_entries()}))
            """,
            fresh_tmpdir,
        )
        assert len(result["ids"]) == 8
        assert len(set(result["ids"])) == 1
        assert len(result["tmp"]) == 1

    def test_is_a_local_provider_in_flyte_tmp_dir(self, fresh_tmpdir: pathlib.Path) -> None:
        """The default provider works in ``flyte_tmp_dir`` and writes locally."""
        result = run_python(
            """
            import persist
            provider = persist.default_local_file_access_provider
            print(json.dumps({"tmp": persist.flyte_tmp_dir, "prefix": provider.raw_output_prefix,
                              "sandbox": str(provider.local_sandbox_dir),
                              "remote": provider.is_remote(provider.raw_output_prefix)}))
            """,
            fresh_tmpdir,
        )
        assert result["prefix"].startswith(result["tmp"] + os.sep)
        assert result["sandbox"].startswith(result["tmp"] + os.sep)
        assert result["remote"] is False


class TestUnknownAttribute:
    def test_raises_attribute_error_naming_it(self) -> None:
        """An unknown module attribute raises AttributeError naming the attribute."""
        with pytest.raises(AttributeError, match="no_such_thing"):
            _ = persist.no_such_thing

    def test_hasattr_is_false(self) -> None:
        """``hasattr`` on an unknown name is False rather than an error."""
        assert not hasattr(persist, "no_such_thing")
