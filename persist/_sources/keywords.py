"""Sections given in code, ``DataConfig.auto(s3=...)``, through pydantic-settings' init source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_settings import InitSettingsSource

from persist._sources._common import Explained, Layer

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["KeywordSource"]


class KeywordSource(InitSettingsSource, Explained):
    """Sections given as mappings (``s3={"retries": 5}``) or models (``s3=S3Config(retries=5)``).

    A model contributes only the fields it was built with, so ``s3=S3Config(retries=7)`` leaves
    ``s3.region`` to the other sources instead of resetting it to the default.
    """

    label = "keyword arguments"

    def __init__(
        self, settings_cls: type[BaseSettings], overrides: Mapping[str, Any], label: str | None = None
    ) -> None:
        if label is not None:
            self.label = label
        self.found = Layer()
        self.sections = sorted(overrides)
        super().__init__(settings_cls, {str(k): _plain(v) for k, v in overrides.items()})

    def __repr__(self) -> str:
        # Names only: InitSettingsSource's repr shows the values, and they may be secrets.
        return f"{type(self).__name__}({self.sections})"


def _plain(value: Any) -> Any:
    """A section model as the fields it was built with; anything else unchanged."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    if isinstance(value, Mapping):
        return dict(value)
    return value
