"""persist: move data between a machine and S3, GCS, Azure Blob or local storage, driven by typed config.

Importing persist is light: each public name is imported on first use, no storage backend
(s3fs, gcsfs, adlfs, botocore, obstore, Azure or Google SDKs) is imported until a transfer
needs it, and nothing is created on disk until ``default_local_file_access_provider`` or
``flyte_tmp_dir`` is first used.
"""

from __future__ import annotations

import os as _os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from persist.config import (
        AzureBlobStorageConfig,
        DataConfig,
        GCSConfig,
        GenericPersistenceConfig,
        S3Config,
    )
    from persist.errors import (
        ConfigError,
        DataNotFoundError,
        DownloadError,
        InvalidInputError,
        PersistError,
        UploadError,
    )
    from persist.options import (
        azure_setup_args,
        gcs_setup_args,
        get_additional_fsspec_call_kwargs,
        get_fsspec_storage_options,
        s3_setup_args,
    )
    from persist.provider import FileAccessProvider

    default_local_file_access_provider: FileAccessProvider
    flyte_tmp_dir: str

_HOMES = {
    "persist.config": (
        "AzureBlobStorageConfig",
        "DataConfig",
        "GCSConfig",
        "GenericPersistenceConfig",
        "S3Config",
    ),
    "persist.errors": (
        "ConfigError",
        "DataNotFoundError",
        "DownloadError",
        "InvalidInputError",
        "PersistError",
        "UploadError",
    ),
    "persist.options": (
        "azure_setup_args",
        "gcs_setup_args",
        "get_additional_fsspec_call_kwargs",
        "get_fsspec_storage_options",
        "s3_setup_args",
    ),
    "persist.provider": ("FileAccessProvider",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "AzureBlobStorageConfig",
    "ConfigError",
    "DataConfig",
    "DataNotFoundError",
    "DownloadError",
    "FileAccessProvider",
    "GCSConfig",
    "GenericPersistenceConfig",
    "InvalidInputError",
    "PersistError",
    "S3Config",
    "UploadError",
    "azure_setup_args",
    "default_local_file_access_provider",
    "flyte_tmp_dir",
    "gcs_setup_args",
    "get_additional_fsspec_call_kwargs",
    "get_fsspec_storage_options",
    "s3_setup_args",
]

__version__ = "0.1.0"

_LAZY_LOCK = threading.RLock()
_lazy: dict[str, Any] = {}


def _fresh_lock_after_fork() -> None:
    """A forked child keeps the parent's lazy values but not a lock a parent thread may hold."""
    global _LAZY_LOCK
    _LAZY_LOCK = threading.RLock()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_fresh_lock_after_fork)


def _build(name: str) -> Any:
    import os
    import tempfile

    from persist.config import DataConfig
    from persist.provider import FileAccessProvider

    if name == "flyte_tmp_dir":
        return tempfile.mkdtemp(prefix="persist-")
    tmp = __getattr__("flyte_tmp_dir")
    return FileAccessProvider(
        local_sandbox_dir=os.path.join(tmp, "sandbox"),
        raw_output_prefix=os.path.join(tmp, "raw"),
        data_config=DataConfig.auto(),
    )


def __getattr__(name: str) -> Any:
    """Import public names on first use; build the two lazy module attributes once."""
    module = _MODULE_OF.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name not in ("flyte_tmp_dir", "default_local_file_access_provider"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LAZY_LOCK:
        if name not in _lazy:
            _lazy[name] = _build(name)
        return _lazy[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
