"""Config sources: keyword arguments, PERSIST_* and FLYTE_* variables, YAML files, secret files.

Each source returns a :class:`Layer`: the values it holds, in the model's layout, and where
each came from. :func:`load` merges the layers field by field (the first layer wins), validates
the result once, and maps every validation problem back to the file or variable that supplied
the value, so messages read ``SOURCE: dotted.field: message``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from persist._flyte import FLYTE_SECTIONS, read_storage
from persist.config import SECTIONS, DataConfig, validation_problems
from persist.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "FLYTECTL_CONFIG_ENV",
    "LEGACY_ENV",
    "SECRETS_DIR_ENV",
    "EnvSource",
    "KeywordSource",
    "Layer",
    "LegacyFlyteEnvSource",
    "Loaded",
    "Note",
    "Origin",
    "SecretsDirSource",
    "YamlFileSource",
    "default_sources",
    "env_name",
    "load",
    "resolve",
]

ENV_PREFIX = "PERSIST_"
"""Prefix of persist's own environment variables: ``PERSIST_<SECTION>__<FIELD>``."""

CONFIG_ENV = "PERSIST_CONFIG"
"""Names the YAML file to read when no path is given in code."""

FLYTECTL_CONFIG_ENV = "FLYTECTL_CONFIG"
"""Names the YAML file when no path is given and ``PERSIST_CONFIG`` is unset (``flytectl demo``)."""

SECRETS_DIR_ENV = "PERSIST_SECRETS_DIR"
"""Names a directory of secret files, one value per file (Kubernetes-style mounted secrets)."""

_CONTROL_ENV = frozenset({CONFIG_ENV, SECRETS_DIR_ENV})

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


def env_name(section: str, name: str) -> str:
    """The ``PERSIST_<SECTION>__<FIELD>`` variable for a field."""
    return f"{ENV_PREFIX}{section.upper()}__{name.upper()}"


@dataclass(frozen=True)
class Origin:
    """Where a value came from: the source (file or variable) and the key as written there."""

    source: str
    key: str


Loc = tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """Something a file says that persist reads differently or not at all.

    ``strict`` notes change behaviour (Flyte would act on the key, persist cannot): ``persist
    validate --strict`` fails on them. The others are always warnings.
    """

    source: str
    field: str
    message: str
    strict: bool

    def __str__(self) -> str:
        return f"{self.source}: {self.field}: {self.message}"


def _blank(value: str) -> bool:
    """An empty or whitespace-only variable: Helm and Kustomize render unset values that way.

    pydantic-settings' ``env_ignore_empty`` does this for its own env source; persist's sources
    are its own (they keep provenance), so they apply the same rule here.
    """
    return not value.strip()


@dataclass
class Layer:
    """The values one source holds, in the model's layout, with the origin of each."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Loc, Origin] = field(default_factory=dict)
    problems: list[ConfigError] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    bucket: tuple[str, Origin] | None = None
    """The deployment's bucket (Flyte's ``storage.container``) as a URI, and where it was read."""
    ignored: list[str] = field(default_factory=list)
    """Variables that were set but empty, hence treated as unset."""

    def set(self, section: str, name: str | None, value: Any, origin: Origin) -> None:
        """Record one value (a whole section when ``name`` is None)."""
        if name is None:
            self.data[section] = value
            self.origins[(section,)] = origin
            return
        current = self.data.get(section)
        if not isinstance(current, dict):
            current = self.data[section] = {}
        current[name] = value
        self.origins[(section, name)] = origin


class KeywordSource:
    """Sections given in code: ``DataConfig.auto(s3=S3Config(...))`` or ``s3={...}``."""

    label = "keyword arguments"

    def __init__(self, overrides: Mapping[str, Any]) -> None:
        self.overrides = dict(overrides)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self.overrides)})"

    def __call__(self) -> Layer:
        layer = Layer()
        for section, value in self.overrides.items():
            if isinstance(value, BaseModel):
                # Only fields the caller set win; the rest may come from other sources.
                value = value.model_dump(exclude_unset=True)
            if isinstance(value, Mapping):
                for name, item in value.items():
                    layer.set(section, str(name), item, Origin(self.label, f"{section}.{name}"))
            else:
                layer.set(section, None, value, Origin(self.label, section))
        return layer


class EnvSource:
    """``PERSIST_<SECTION>__<FIELD>`` variables; any other ``PERSIST_*`` name is an error."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={ENV_PREFIX!r})"

    def __call__(self) -> Layer:
        layer = Layer()
        for var in sorted(self.environ):
            if not var.upper().startswith(ENV_PREFIX) or var.upper() in _CONTROL_ENV:
                continue
            if _blank(self.environ[var]):
                layer.ignored.append(var)
                continue
            _set_named(layer, var, var[len(ENV_PREFIX) :], self.environ[var], var)
        return layer


def _set_named(layer: Layer, source: str, rest: str, value: Any, shown: str) -> None:
    """Record a value named ``<SECTION>__<FIELD>`` (any case), or a problem naming ``source``."""
    section, sep, name = rest.lower().partition("__")
    if not sep or not section or not name:
        allowed = f"{ENV_PREFIX}<SECTION>__<FIELD> with SECTION one of " + ", ".join(
            s.upper() for s in SECTIONS
        )
        layer.problems.append(ConfigError(source, "", f"{shown} is not a persist setting; use {allowed}"))
        return
    layer.set(section, name, value, Origin(source, f"{section}.{name}"))


class LegacyFlyteEnvSource:
    """flytekit's variables (``FLYTE_AWS_ENDPOINT``...), so existing deployments keep working."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self) -> Layer:
        layer = Layer()
        for var, (section, name) in LEGACY_ENV.items():
            if var in self.environ and _blank(self.environ[var]):
                layer.ignored.append(var)
            elif var in self.environ:
                layer.set(section, name, self.environ[var], Origin(var, f"{section}.{name}"))
        return layer


class YamlFileSource:
    """A YAML file in persist's layout (``s3: {endpoint: ...}``) or Flyte's (``storage:``).

    With no path, the file named by ``PERSIST_CONFIG`` is read, else the one named by
    ``FLYTECTL_CONFIG``; an empty variable counts as unset.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        environ = os.environ if environ is None else environ
        self.from_env: str | None = None
        self.ignored: list[str] = []
        chosen: str | os.PathLike[str] | None = path
        for var in (CONFIG_ENV, FLYTECTL_CONFIG_ENV):
            if var in environ and _blank(environ[var]):
                self.ignored.append(var)
            elif var in environ and chosen is None:
                chosen, self.from_env = environ[var].strip(), var
        self.path = None if chosen is None else os.fspath(chosen)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(yaml_file={self.path})"

    def __call__(self) -> Layer:
        layer = Layer(ignored=list(self.ignored))
        if self.path is None:
            return layer
        try:
            document = read_yaml(self.path)
        except ConfigError as err:
            if self.from_env:
                err = ConfigError(err.source, err.field, f"{err.message} (named by {self.from_env})")
            layer.problems.append(err)
            return layer
        if not isinstance(document, dict):
            layer.problems.append(
                ConfigError(
                    self.path,
                    "",
                    "the top level must be a mapping of sections (s3, gcs, azure, generic)",
                )
            )
            return layer
        native = [k for k in document if k in SECTIONS]
        flyte = [k for k in document if str(k).lower() in FLYTE_SECTIONS]
        if native and "storage" in document:
            layer.problems.append(
                ConfigError(
                    self.path,
                    "storage",
                    "mixes persist's layout (" + ", ".join(native) + ") with Flyte's storage section;"
                    " use one layout per file",
                )
            )
            return layer
        if flyte and not native:
            read_storage(self.path, document, layer)
            return layer
        for key, value in document.items():
            origin = Origin(self.path, str(key))
            if isinstance(value, dict) and value:
                for name, item in value.items():
                    layer.set(str(key), str(name), item, Origin(self.path, f"{key}.{name}"))
            else:
                # An empty section ("s3:") is allowed; anything else is validated whole.
                empty = value is None and key in SECTIONS
                layer.set(str(key), None, {} if empty else value, origin)
        return layer


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


class SecretsDirSource:
    """One file per value in the directory named by ``PERSIST_SECRETS_DIR``.

    Files are named like the variables (``PERSIST_S3__SECRET_ACCESS_KEY``, any case); their
    content is stripped of surrounding whitespace. Other files (Kubernetes adds ``..data``) are
    ignored.
    """

    def __init__(self, directory: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.ignored: list[str] = []
        if directory is None and SECRETS_DIR_ENV in environ:
            if _blank(environ[SECRETS_DIR_ENV]):
                self.ignored.append(SECRETS_DIR_ENV)
            else:
                directory = environ[SECRETS_DIR_ENV].strip()
        self.directory = directory

    def __repr__(self) -> str:
        return f"{type(self).__name__}(secrets_dir={self.directory})"

    def __call__(self) -> Layer:
        layer = Layer(ignored=list(self.ignored))
        if self.directory is None:
            return layer
        root = Path(self.directory)
        if not root.is_dir():
            layer.problems.append(ConfigError(SECRETS_DIR_ENV, "", f"{self.directory} is not a directory"))
            return layer
        for entry in sorted(root.iterdir()):
            if not entry.name.upper().startswith(ENV_PREFIX) or not entry.is_file():
                continue
            source = str(entry)
            try:
                # Explicit encoding: a secret's bytes must not depend on the machine's locale.
                value = entry.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                layer.problems.append(ConfigError(source, "", f"cannot read the secret file: {exc}"))
                continue
            _set_named(layer, source, entry.name[len(ENV_PREFIX) :], value, entry.name)
        return layer


Source = KeywordSource | EnvSource | LegacyFlyteEnvSource | YamlFileSource | SecretsDirSource


def default_sources(
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Source]:
    """Every source in priority order, highest first; defaults live on the model fields."""
    return [
        KeywordSource(overrides or {}),  # 1. keyword arguments
        EnvSource(environ),  # 2. PERSIST_S3__ENDPOINT ...
        LegacyFlyteEnvSource(environ),  # 3. FLYTE_AWS_ENDPOINT ...
        YamlFileSource(config_file, environ),  # 4. path from code, else PERSIST_CONFIG
        SecretsDirSource(None, environ),  # 5. directory named by PERSIST_SECRETS_DIR
    ]


def merge(layers: Iterable[Layer]) -> Layer:
    """Merge layers field by field; earlier layers win, and a whole section replaces fields."""
    layers = list(layers)
    merged = Layer()
    for layer in reversed(layers):
        for section, value in layer.data.items():
            if isinstance(value, dict) and isinstance(merged.data.get(section), dict):
                merged.data[section].update(value)
            else:
                merged.data[section] = dict(value) if isinstance(value, dict) else value
    for layer in layers:
        for loc, origin in layer.origins.items():
            merged.origins.setdefault(loc, origin)
        merged.problems.extend(layer.problems)
        merged.notes.extend(layer.notes)
        merged.ignored.extend(layer.ignored)
        merged.bucket = merged.bucket or layer.bucket
    return merged


@dataclass(frozen=True)
class Loaded:
    """What :func:`resolve` found: the config and everything ``persist show`` explains about it."""

    config: DataConfig
    origins: dict[Loc, Origin]
    bucket: tuple[str, Origin] | None
    """The deployment's bucket named by a Flyte file (``storage.container``), if any."""
    ignored: list[str]
    """Variables that were set but empty, hence treated as unset."""
    notes: list[Note]


def load(sources: Iterable[Source]) -> tuple[DataConfig, dict[Loc, Origin]]:
    """Read, merge and validate sources; return the config and the origin of every set value.

    Raises:
        ConfigError: listing every problem found, each naming its source and dotted field.
    """
    loaded = resolve(sources)
    return loaded.config, loaded.origins


def resolve(sources: Iterable[Source]) -> Loaded:
    """Like :func:`load`, also returning the deployment's bucket, ignored variables and notes.

    Raises:
        ConfigError: listing every problem found, each naming its source and dotted field.
    """
    merged = merge(source() for source in sources)
    problems = list(merged.problems)
    config: DataConfig | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = DataConfig.model_validate(merged.data)
        except ValidationError as exc:
            for loc, msg in validation_problems(exc):
                origin = _origin_of(tuple(str(p) for p in loc), merged.origins)
                key = origin.key if origin and len(loc) >= 2 else ".".join(map(str, loc))
                problems.append(ConfigError(origin.source if origin else "", key, msg))
    for warning in caught:
        origin = _origin_of(("s3", "adressing_style"), merged.origins)
        prefix = f"{origin.source}: " if origin else ""
        warnings.warn_explicit(
            f"{prefix}{warning.message}",
            warning.category,
            warning.filename,
            warning.lineno,
        )
    if problems:
        raise ConfigError.from_problems(problems)
    assert config is not None  # noqa: S101 - validation either returned or raised
    return Loaded(config, merged.origins, merged.bucket, sorted(set(merged.ignored)), merged.notes)


def _origin_of(loc: Loc, origins: Mapping[Loc, Origin]) -> Origin | None:
    """The origin of a value, or of the highest-priority value in its section."""
    for size in range(min(len(loc), 2), 0, -1):
        if loc[:size] in origins:
            return origins[loc[:size]]
    if loc:
        for key, origin in origins.items():
            if key[0] == loc[0]:
                return origin
    return None
