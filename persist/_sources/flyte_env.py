"""flytekit's legacy variables (``FLYTE_AWS_ENDPOINT``...) as a pydantic-settings source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic_settings import PydanticBaseSettingsSource

from persist._sources._common import Explained, Layer, Origin, blank

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo
    from pydantic_settings import BaseSettings

__all__ = ["LEGACY_ENV", "LegacyFlyteEnvSource"]

LEGACY_ENV: dict[str, tuple[str, str]] = {
    "FLYTE_AWS_ENDPOINT": ("s3", "endpoint"),
    "FLYTE_AWS_ACCESS_KEY_ID": ("s3", "access_key_id"),
    "FLYTE_AWS_SECRET_ACCESS_KEY": ("s3", "secret_access_key"),
    "FLYTE_AWS_ADDRESSING_STYLE": ("s3", "addressing_style"),
    "FLYTE_AWS_RETRIES": ("s3", "retries"),
    "FLYTE_AWS_BACKOFF_SECONDS": ("s3", "backoff"),
    "FLYTE_AWS_ENABLE_DEBUG": ("s3", "enable_debug"),
    "FLYTE_AZURE_STORAGE_ACCOUNT_NAME": ("azure", "account_name"),
    "FLYTE_AZURE_STORAGE_ACCOUNT_KEY": ("azure", "account_key"),
    "FLYTE_AZURE_TENANT_ID": ("azure", "tenant_id"),
    "FLYTE_AZURE_CLIENT_ID": ("azure", "client_id"),
    "FLYTE_AZURE_CLIENT_SECRET": ("azure", "client_secret"),
    "FLYTE_GCP_GSUTIL_PARALLELISM": ("gcs", "gsutil_parallelism"),
    "FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA": ("generic", "attach_execution_metadata"),
    "_F_P_WRITE_CHUNK_SIZE": ("generic", "write_chunk_size_bytes"),
}
"""flytekit's environment variables and the (section, field) each one sets."""


class LegacyFlyteEnvSource(PydanticBaseSettingsSource, Explained):
    """flytekit's variables, so existing deployments keep working unchanged.

    A table, not ``EnvSettingsSource``: the names follow no prefix/delimiter rule
    (``FLYTE_AWS_BACKOFF_SECONDS`` sets ``s3.backoff``, ``_F_P_WRITE_CHUNK_SIZE`` a generic field),
    and other ``FLYTE_*`` variables belong to Flyte, so they are not errors here.
    """

    label = "flytekit environment"

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self.found = Layer()
        environ = os.environ if environ is None else environ
        self._values: dict[str, dict[str, str]] = {}
        for var, (section, name) in LEGACY_ENV.items():
            if var not in environ:
                continue
            if blank(environ[var]):
                self.found.ignored.append(var)
                continue
            self._values.setdefault(section, {})[name] = environ[var]
            self.found.origins[(section, name)] = Origin(var, f"{section}.{name}")

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The section's values set by flytekit variables (None when there is none)."""
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                data[key] = dict(value)
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
