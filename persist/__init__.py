"""persist: move data between a machine and S3, GCS, Azure Blob or local storage, driven by typed config.

Importing persist is light: no storage backend (s3fs, gcsfs, adlfs, botocore, Azure or Google
SDKs) is imported until a filesystem is built, and nothing is created on disk until
``default_local_file_access_provider`` or ``flyte_tmp_dir`` is first used.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    default_local_file_access_provider: FileAccessProvider
    flyte_tmp_dir: str

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


def _build(name: str) -> Any:
    import os
    import tempfile

    if name == "flyte_tmp_dir":
        return tempfile.mkdtemp(prefix="persist-")
    tmp = __getattr__("flyte_tmp_dir")
    return FileAccessProvider(
        local_sandbox_dir=os.path.join(tmp, "sandbox"),
        raw_output_prefix=os.path.join(tmp, "raw"),
        data_config=DataConfig.auto(),
    )


def __getattr__(name: str) -> Any:
    """Build ``flyte_tmp_dir`` and ``default_local_file_access_provider`` on first access, once."""
    if name not in ("flyte_tmp_dir", "default_local_file_access_provider"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LAZY_LOCK:
        if name not in _lazy:
            _lazy[name] = _build(name)
        return _lazy[name]
