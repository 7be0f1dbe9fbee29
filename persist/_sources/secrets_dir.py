"""Secret files in the directory named by ``PERSIST_SECRETS_DIR``, on pydantic-settings' class."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic_settings import NestedSecretsSettingsSource, SecretsSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from persist._sources._common import (
    ENV_PREFIX,
    SECRETS_DIR_ENV,
    Explained,
    Layer,
    ListFriendly,
    Origin,
    blank,
    named_field,
    sections_of,
)
from persist.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["SecretsDirSource"]


class SecretsDirSource(ListFriendly, NestedSecretsSettingsSource, Explained):
    """One file per value, named like the variable (``PERSIST_S3__SECRET_ACCESS_KEY``, any case).

    pydantic-settings' class walks the directory (skipping hidden entries such as Kubernetes'
    ``..data``, and links that leave the directory), bounds its size, strips each value and
    nests ``__`` names. persist reads the files itself (``_load_env_vars``) only to remember
    each file's path (errors and ``persist show`` name it), to report an unreadable file or a
    misnamed one instead of failing or skipping it, and to name ``PERSIST_SECRETS_DIR`` when it
    is not a directory.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        directory: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.found = Layer()
        if directory is None and SECRETS_DIR_ENV in environ:
            if blank(environ[SECRETS_DIR_ENV]):
                self.found.ignored.append(SECRETS_DIR_ENV)
            else:
                directory = environ[SECRETS_DIR_ENV].strip()
        if directory is not None and not Path(directory).is_dir():
            self.found.problems.append(ConfigError(SECRETS_DIR_ENV, "", f"{directory} is not a directory"))
            directory = None
        self.directory = directory
        self.label = directory or ""
        # The wrapped file source is how pydantic-settings' docs build this class; it only
        # carries the settings class and the directory here.
        super().__init__(
            SecretsSettingsSource(settings_cls, secrets_dir=directory),
            secrets_dir=directory,
            secrets_dir_missing="ok",
            secrets_case_sensitive=False,
            secrets_prefix=ENV_PREFIX,
            secrets_nested_delimiter="__",
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.directory is None:
            return {}
        sections = sections_of(self.settings_cls)
        root = self.secrets_paths[0]
        values: dict[str, str] = {}
        for entry in self._iter_secret_files(root):
            relative = str(entry.relative_to(root))
            if not relative.upper().startswith(ENV_PREFIX):
                continue  # not persist's: a README, another tool's secret
            shown = str(Path(self.directory) / relative)
            named = named_field(shown, relative, sections)
            if not isinstance(named, tuple):
                self.found.problems.append(named)
                continue
            try:
                # Explicit encoding: a secret's bytes must not depend on the machine's locale.
                value = entry.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
                self.found.problems.append(ConfigError(shown, "", f"cannot read the secret file: {reason}"))
                continue
            values[relative] = value
            self.found.origins[named] = Origin(shown, ".".join(named))
        self._read = values
        return parse_env_vars(values, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def load_secrets(self, path: Path) -> dict[str, str]:  # type: ignore[override]
        """What ``_load_env_vars`` read, for pydantic-settings before 2.16.

        Those versions read every file of the directory once more through this classmethod
        after ``_load_env_vars`` (failing on a file that is not UTF-8, and keeping files persist
        skips): hand them the values persist read instead, so both versions agree.
        """
        return dict(getattr(self, "_read", {}))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(secrets_dir={self.directory})"
