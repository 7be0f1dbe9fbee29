"""The public names DESIGN.md promises: exports, FileAccessProvider's flytekit surface, error bases."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

import persist
from persist import FileAccessProvider, PersistError

PUBLIC_NAMES = {
    # models
    "S3Config",
    "GCSConfig",
    "AzureBlobStorageConfig",
    "GenericPersistenceConfig",
    "DataConfig",
    # translation functions
    "s3_setup_args",
    "azure_setup_args",
    "gcs_setup_args",
    "get_fsspec_storage_options",
    "get_additional_fsspec_call_kwargs",
    # provider
    "FileAccessProvider",
    # errors
    "PersistError",
    "ConfigError",
    "InvalidInputError",
    "DataNotFoundError",
    "UploadError",
    "DownloadError",
    # lazy module attributes
    "default_local_file_access_provider",
    "flyte_tmp_dir",
}
"""Every name DESIGN.md lists under "Public API (all importable from persist)"."""

LAZY_NAMES = {"default_local_file_access_provider", "flyte_tmp_dir"}
"""Public names built on first access, so not present in the module namespace after import."""

PROVIDER_SIGNATURES = {
    "__init__": "(local_sandbox_dir, raw_output_prefix, data_config=None, execution_metadata=None)",
    "async_get_data": "(remote_path, local_path, is_multipart=False, **kwargs)",
    "async_put_data": "(local_path, remote_path, is_multipart=False, **kwargs)",
    "async_put_raw_data": (
        "(lpath, upload_prefix=None, file_name=None, read_chunk_size_bytes=1024, encoding='utf-8', "
        "skip_raw_data_prefix=False, **kwargs)"
    ),
    "download": "(remote_path, local_path, **kwargs)",
    "download_directory": "(remote_path, local_path, **kwargs)",
    "exists": "(path)",
    "generate_new_custom_path": "(fs=None, alt=None, stem=None)",
    "get": "(from_path, to_path, recursive=False, **kwargs)",
    "get_async_filesystem_for_path": "(path='', anonymous=False, **kwargs)",
    "get_data": "(remote_path, local_path, is_multipart=False, **kwargs)",
    "get_file_tail": "(file_path_or_file_name)",
    "get_filesystem": "(protocol=None, anonymous=False, path=None, **kwargs)",
    "get_filesystem_for_path": "(path='', anonymous=False, **kwargs)",
    "get_random_local_directory": "()",
    "get_random_local_path": "(file_path_or_file_name=None)",
    "get_random_remote_directory": "()",
    "get_random_remote_path": "(file_path_or_file_name=None)",
    "get_random_string": "()",
    "is_remote": "(path)",
    "join": "(*args, unstrip=False, fs=None)",
    "put_data": "(local_path, remote_path, is_multipart=False, **kwargs)",
    "put_raw_data": (
        "(lpath, upload_prefix=None, file_name=None, read_chunk_size_bytes=1024, encoding='utf-8', "
        "skip_raw_data_prefix=False, **kwargs)"
    ),
    "recursive_paths": "(f, t)",
    # flytekit's file_system has no default; persist's None default is a compatible superset.
    "sep": "(file_system=None)",
    "strip_file_header": "(path, trim_trailing_sep=False)",
    "upload": "(file_path, to_path, **kwargs)",
    "upload_directory": "(local_path, remote_path, **kwargs)",
}
"""flytekit's FileAccessProvider methods, parameter names and defaults (without ``self``)."""

STATIC_METHODS = ("get_file_tail", "get_random_string", "is_remote", "recursive_paths", "strip_file_header")
"""Methods flytekit declares static, callable on the class itself."""

ASYNC_METHODS = ("async_get_data", "async_put_data", "async_put_raw_data", "get_async_filesystem_for_path")
"""Methods that are coroutines, as in flytekit; the transfer methods' sync twins are not."""

SYNC_METHODS = (
    "get_data",
    "put_data",
    "put_raw_data",
    "download",
    "download_directory",
    "upload",
    "upload_directory",
    "exists",
    "get",
)
"""Transfer methods that run to completion when called, from any thread or event loop."""

PROVIDER_EXTENSIONS = {
    # A constructor whose config each worker reads itself (README "Running on many workers").
    "from_environment": (
        "(local_sandbox_dir: 'str | os.PathLike[str]', raw_output_prefix: 'str', "
        "execution_metadata: 'dict[str, Any] | None' = None, "
        "config_file: 'str | os.PathLike[str] | None' = None) -> 'FileAccessProvider'"
    ),
    "copy": "(self, src: 'str', dst: 'str', recursive: 'bool' = False, **kwargs: 'Any') -> 'str'",
    "ls": "(self, path: 'str') -> 'list[Entry]'",
    "rm_file": "(self, path: 'str') -> 'None'",
}
"""Methods persist adds to flytekit's provider, so that callers (its CLI included) need no privates."""

PROVIDER_PROPERTIES = (
    "data_config",
    "local_access",
    "local_sandbox_dir",
    "raw_output_fs",
    "raw_output_prefix",
)
"""flytekit's FileAccessProvider properties."""

ERROR_BASES: dict[str, Any] = {
    "argnames": ("name", "bases"),
    "argvalues": [
        ("PersistError", (Exception,)),
        ("ConfigError", (PersistError, ValueError)),
        ("InvalidInputError", (PersistError, ValueError)),
        ("DataNotFoundError", (PersistError, FileNotFoundError)),
        ("UploadError", (PersistError,)),
        ("DownloadError", (PersistError,)),
    ],
}


def _plain_signature(name: str) -> str:
    """The signature of a provider method without ``self`` and without annotations."""
    signature = inspect.signature(getattr(FileAccessProvider, name))
    parameters = [
        p.replace(annotation=inspect.Parameter.empty)
        for p in signature.parameters.values()
        if p.name != "self"
    ]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


def _ruff_sort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 ("isort-style") order: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


class TestExports:
    def test_all_is_exactly_the_design_list(self) -> None:
        """``persist.__all__`` holds every public name of DESIGN.md and nothing else."""
        assert set(persist.__all__) == PUBLIC_NAMES

    def test_all_has_no_duplicates(self) -> None:
        """No name is listed twice."""
        assert len(persist.__all__) == len(set(persist.__all__))

    def test_all_is_sorted(self) -> None:
        """``__all__`` is sorted the way ruff's RUF022 keeps it (the lint gate owns the order)."""
        assert persist.__all__ == sorted(persist.__all__, key=_ruff_sort_key)

    def test_module_namespace_holds_nothing_else(self) -> None:
        """Once every public name is loaded, no other persist class or function is in the module."""
        for name in PUBLIC_NAMES - LAZY_NAMES:
            getattr(persist, name)
        public = {
            name
            for name, value in vars(persist).items()
            if not name.startswith("_")
            and not inspect.ismodule(value)
            and str(getattr(value, "__module__", "")).startswith("persist")
        }
        assert public == PUBLIC_NAMES - LAZY_NAMES

    def test_dir_lists_every_public_name(self) -> None:
        """``dir(persist)`` lists every public name, the lazily built ones included."""
        assert set(dir(persist)) >= PUBLIC_NAMES

    @pytest.mark.parametrize("name", sorted(PUBLIC_NAMES - LAZY_NAMES))
    def test_name_imports(self, name: str) -> None:
        """Every eager public name imports with ``from persist import ...``."""
        namespace: dict[str, object] = {}
        exec(f"from persist import {name}", namespace)  # the import statement is the test
        assert namespace[name] is getattr(persist, name)

    def test_errors_module_is_public(self) -> None:
        """The error classes are the same objects in ``persist.errors`` and ``persist``."""
        errors = importlib.import_module("persist.errors")
        for name in (
            "PersistError",
            "ConfigError",
            "InvalidInputError",
            "DataNotFoundError",
            "UploadError",
            "DownloadError",
        ):
            assert getattr(errors, name) is getattr(persist, name)


class TestProviderSurface:
    @pytest.mark.parametrize(("name", "expected"), sorted(PROVIDER_SIGNATURES.items()))
    def test_signature(self, name: str, expected: str) -> None:
        """Each method keeps flytekit's parameter names, order and defaults."""
        assert _plain_signature(name) == expected

    @pytest.mark.parametrize("name", STATIC_METHODS)
    def test_static(self, name: str) -> None:
        """flytekit's static methods are static here too."""
        assert isinstance(inspect.getattr_static(FileAccessProvider, name), staticmethod)

    @pytest.mark.parametrize("name", ASYNC_METHODS)
    def test_async(self, name: str) -> None:
        """The ``async_`` methods and ``get_async_filesystem_for_path`` are coroutine functions."""
        assert inspect.iscoroutinefunction(getattr(FileAccessProvider, name))

    @pytest.mark.parametrize("name", SYNC_METHODS)
    def test_sync(self, name: str) -> None:
        """The transfer methods without ``async_`` are plain functions that return a result."""
        assert not inspect.iscoroutinefunction(getattr(FileAccessProvider, name))

    @pytest.mark.parametrize("name", PROVIDER_PROPERTIES)
    def test_property(self, name: str) -> None:
        """flytekit's properties are properties."""
        assert isinstance(inspect.getattr_static(FileAccessProvider, name), property)

    def test_design_lists_every_method(self) -> None:
        """The table above covers every public method and property of FileAccessProvider."""
        public = {name for name in vars(FileAccessProvider) if not name.startswith("_")}
        expected = set(PROVIDER_SIGNATURES) - {"__init__"}
        assert public == expected | set(PROVIDER_PROPERTIES) | set(PROVIDER_EXTENSIONS)

    @pytest.mark.parametrize(("name", "expected"), sorted(PROVIDER_EXTENSIONS.items()))
    def test_extension_signature(self, name: str, expected: str) -> None:
        """persist's additions have the documented signatures."""
        assert str(inspect.signature(getattr(FileAccessProvider, name))) == expected


class TestErrors:
    @pytest.mark.parametrize(**ERROR_BASES)
    def test_bases(self, name: str, bases: tuple[type[BaseException], ...]) -> None:
        """Each error subclasses PersistError and the builtin DESIGN.md names."""
        cls = getattr(persist, name)
        assert all(issubclass(cls, base) for base in bases)

    def test_config_error_caught_as_value_error(self) -> None:
        """``except ValueError`` catches a ConfigError."""
        with pytest.raises(ValueError, match=r"s3\.retries"):
            raise persist.ConfigError("env", "s3.retries", "Input should be a valid integer")

    def test_data_not_found_caught_as_file_not_found(self) -> None:
        """``except FileNotFoundError`` catches a DataNotFoundError."""
        with pytest.raises(FileNotFoundError):
            raise persist.DataNotFoundError("s3://b/x does not exist")

    @pytest.mark.parametrize("name", ["UploadError", "DownloadError"])
    def test_transfer_errors_are_not_value_errors(self, name: str) -> None:
        """Upload and download failures are not mistaken for bad arguments."""
        assert not issubclass(getattr(persist, name), ValueError)
