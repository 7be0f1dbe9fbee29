"""A YAML file in persist's layout or Flyte's, on pydantic-settings' YAML source."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_settings import YamlConfigSettingsSource

from persist._sources._common import (
    CONFIG_ENV,
    FLYTECTL_CONFIG_ENV,
    STORES,
    Explained,
    Layer,
    Origin,
    blank,
    sections_of,
)
from persist._sources.flyte_layout import FLYTE_SECTIONS, read_storage
from persist.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings
    from pydantic_settings.sources import ConfigFileSourceType
    from pydantic_settings.sources.types import Traversable

__all__ = ["YamlFileSource", "read_yaml"]


class YamlFileSource(YamlConfigSettingsSource, Explained):
    """A YAML file in persist's layout (``s3: {endpoint: ...}``) or Flyte's (``storage:``).

    With no path, the file named by ``PERSIST_CONFIG`` is read, else the one named by
    ``FLYTECTL_CONFIG``; an empty variable counts as unset.

    pydantic-settings' class finds and reads the file; persist replaces the parsing (PyYAML's
    ``safe_load`` keeps the last of two equal keys silently and quotes document text in its
    errors, which may be a secret), reports a missing file instead of skipping it, and maps
    Flyte's layouts onto the model, remembering the key each value was written under.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.found = Layer()
        self.from_env: str | None = None
        chosen: str | os.PathLike[str] | None = path
        for var in (CONFIG_ENV, FLYTECTL_CONFIG_ENV):
            if var in environ and blank(environ[var]):
                self.found.ignored.append(var)
            elif var in environ and chosen is None:
                chosen, self.from_env = environ[var].strip(), var
        self.path = None if chosen is None else os.fspath(chosen)
        self.label = self.path or ""
        self._sections = sections_of(settings_cls)
        super().__init__(settings_cls, yaml_file=self.path, yaml_file_encoding="utf-8")

    def _read_files(self, files: ConfigFileSourceType | None, deep_merge: bool = False) -> dict[str, Any]:
        # pydantic-settings skips a file that does not exist; a file persist was told to read
        # must exist, so it is read (and its absence reported) whatever the case.
        return {} if self.path is None else self._read_file(Path(self.path))

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        path = self.path or str(file_path)
        try:
            document = read_yaml(path)
        except ConfigError as err:
            if self.from_env:
                err = ConfigError(err.source, err.field, f"{err.message} (named by {self.from_env})")
            self.found.problems.append(err)
            return {}
        self._map_document(path, document)
        return self.found.data

    def _map_document(self, path: str, document: Any) -> None:
        layer, sections = self.found, self._sections
        if document is None:
            return
        if not isinstance(document, dict):
            allowed = ", ".join(sections)
            layer.problems.append(
                ConfigError(path, "", f"the top level must be a mapping of sections ({allowed})")
            )
            return
        native = [k for k in document if k in sections or k == STORES]
        flyte = [k for k in document if str(k).lower() in FLYTE_SECTIONS]
        if native and "storage" in document:
            layer.problems.append(
                ConfigError(
                    path,
                    "storage",
                    "mixes persist's layout (" + ", ".join(native) + ") with Flyte's storage section;"
                    " use one layout per file",
                )
            )
            return
        if flyte and not native:
            read_storage(path, document, layer)
            return
        for key, value in document.items():
            if isinstance(value, dict) and value:
                for name, item in value.items():
                    layer.set(str(key), str(name), item, Origin(path, f"{key}.{name}"))
            else:
                # An empty section ("s3:") is allowed; anything else is validated whole.
                empty = value is None and key in sections
                layer.set(str(key), None, {} if empty else value, Origin(path, str(key)))

    def __call__(self) -> dict[str, Any]:
        # The document as mapped, keys as written: InitSettingsSource would fold their case,
        # and persist's keys are case-sensitive like the models' (an "S3:" key is an error).
        return self.yaml_data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(yaml_file={self.path})"


def read_yaml(path: str) -> Any:
    """Parse a YAML file; a missing, unreadable or malformed file is a ConfigError naming it."""
    import yaml

    try:
        # Explicit encoding: config files are UTF-8 whatever the machine's locale says.
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "cannot read the file: it is not UTF-8 text") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_duplicate_keys(path, node, ())
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = _redact_yaml_text(getattr(exc, "problem", None) or str(exc))
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(path, where, f"not valid YAML: {problem}") from None


def _check_duplicate_keys(path: str, node: Any, parents: tuple[str, ...]) -> None:
    """Refuse a key written twice in one mapping, naming both lines.

    PyYAML's safe_load keeps the last of two equal keys without a word, so a second ``s3:``
    section would silently replace the first. The check walks the composed node tree before
    construction; it names keys and lines, never values. Keys merged in with ``<<`` may be
    overridden, as YAML intends.
    """
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                dotted = ".".join((*parents, key_node.value))
                if key in seen:
                    raise ConfigError(
                        path,
                        dotted,
                        f"given twice, on lines {seen[key]} and {line}; keep one "
                        "(YAML would silently keep only the last)",
                    )
                seen[key] = line
                _check_duplicate_keys(path, value_node, (*parents, key_node.value))
            else:
                _check_duplicate_keys(path, value_node, parents)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicate_keys(path, item, (*parents, str(index)))


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
_TOKEN_NAME = re.compile(r"<[a-z ]+>")


def _redact_yaml_text(problem: str) -> str:
    """A PyYAML problem text without the document text it quotes.

    PyYAML quotes document text (an undefined alias, an unknown tag, a character), so an
    unquoted secret such as ``*x9`` or ``!x9`` would be echoed: keep quoted token names
    (``'<stream end>'``) and punctuation (``','``), and hide anything else.
    """

    def keep_or_hide(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        if _TOKEN_NAME.fullmatch(inner) or (len(inner) <= 2 and not inner.isalnum()):
            return match.group(0)
        return "'...'"

    return _QUOTED.sub(keep_or_hide, problem)
