"""Add your own config source (a Vault, a secret manager) at a chosen place in the precedence.

Run it with `.venv/bin/python examples/vault_source.py`. Any pydantic-settings source works;
this one stands in for a secret manager with a dict. The same factory serves the CLI:

    cd examples && persist show --source vault_source:vault
"""

from __future__ import annotations

import os
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from persist import DataConfig


class VaultSource(PydanticBaseSettingsSource):
    """Values kept under a path in a secret store, keyed like persist's fields (``s3.region``).

    A real one would read them from the store when called; persist calls each source once per
    load and names it, by this class's ``repr``, as the source of the values it returned.
    """

    def __init__(self, settings_cls: type[BaseSettings], path: str, store: dict[str, str]) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.store = store

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The values of one section (``field_name`` is ``s3``, ``gcs``...)."""
        prefix = f"{field_name}."
        values = {key[len(prefix) :]: value for key, value in self.store.items() if key.startswith(prefix)}
        return values or None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Every section the store holds values for."""
        data: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                data[key] = value
        return data

    def __repr__(self) -> str:
        return f"VaultSource(path={self.path!r})"


STORE = {
    "s3.endpoint": "http://127.0.0.1:9000",
    "s3.access_key_id": "vault-key-id",
    "s3.secret_access_key": "vault-secret",
    "s3.region": "eu-west-1",
}
"""What the stand-in store holds."""


def vault(settings_cls: type[BaseSettings]) -> VaultSource:
    """Build the source from the settings class persist passes, as pydantic-settings does."""
    return VaultSource(settings_cls, "secret/data/persist", STORE)


def main() -> None:
    """Load with the vault below the variables (the default place), then below everything."""
    os.environ["PERSIST_S3__REGION"] = "us-east-2"  # a variable wins over the vault by default
    config = DataConfig.auto(extra_sources=[vault])
    print(f"default place: region={config.s3.region} endpoint={config.s3.endpoint}")
    print(f"secret stays masked: {config.s3.secret_access_key!r}")

    # ("env", source) puts the vault just above the PERSIST_* variables, so it wins over them.
    config = DataConfig.auto(extra_sources=[("env", vault)])
    print(f"above the variables: region={config.s3.region}")

    # Keyword arguments always win; a section given in code keeps the vault's other fields.
    config = DataConfig.auto(extra_sources=[vault], s3={"region": "ap-south-1"})
    print(f"keyword argument: region={config.s3.region} key id={config.s3.access_key_id}")


if __name__ == "__main__":
    main()
