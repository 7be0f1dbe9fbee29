"""persist's own variables, ``PERSIST_<SECTION>__<FIELD>``, through pydantic-settings' env source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic_settings import EnvSettingsSource

from persist._sources._common import (
    CONTROL_ENV,
    ENV_PREFIX,
    Explained,
    Layer,
    ListFriendly,
    Origin,
    blank,
    named_field,
    sections_of,
)

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["PersistEnvSource"]


class PersistEnvSource(ListFriendly, EnvSettingsSource, Explained):
    """``PERSIST_<SECTION>__<FIELD>`` variables (any case); any other ``PERSIST_*`` name is an error.

    pydantic-settings reads the variables (prefix ``PERSIST_``, delimiter ``__``, case-insensitive)
    and builds the nested values. On top of it, persist keeps the exact name of each variable
    (``persist show`` and errors name it), treats whitespace-only values as unset, and reports
    names pydantic-settings would silently skip (``PERSIST_S3_ENDPOINT``, ``PERSIST_BLOB__X``).
    """

    label = "environment"

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        self.found = Layer()
        self._environ = os.environ if environ is None else environ
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
            env_ignore_empty=True,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        """The well-formed ``PERSIST_*`` variables, lower-cased as pydantic-settings matches them."""
        sections = sections_of(self.settings_cls)
        kept: dict[str, str | None] = {}
        for var in sorted(self._environ):
            if not var.upper().startswith(ENV_PREFIX) or var.upper() in CONTROL_ENV:
                continue
            value = self._environ[var]
            if blank(value):
                self.found.ignored.append(var)
                continue
            named = named_field(var, var, sections)
            if not isinstance(named, tuple):
                self.found.problems.append(named)
                continue
            kept[var.lower()] = value
            self.found.origins[named] = Origin(var, ".".join(named))
        return kept

    def __repr__(self) -> str:
        return f"{type(self).__name__}(env_prefix={ENV_PREFIX!r}, env_nested_delimiter='__')"
