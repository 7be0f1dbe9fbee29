"""Precedence, provenance and loading: every source wrapped, merged field by field, validated once.

pydantic-settings sources return plain dicts and keep no record of where a value came from
(pydantic-settings issue #756), and ``BaseSettings`` would validate into a settings class that
reads the environment when constructed. persist keeps its public models plain, so it calls the
sources itself: each is wrapped (:class:`Traced`) to record the origin of every value it
returned, the results are merged (the first source that sets a field wins), and the merged
values are validated once against the model class, mapping every problem back to its source.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ValidationError, create_model
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from persist._sources._common import (
    AWS_SECRET_ID_ENV,
    AWS_SECRET_REGION_ENV,
    ENV_PREFIX,
    Explained,
    Layer,
    Loc,
    Note,
    Origin,
    blank,
    did_you_mean,
    sections_of,
)
from persist._sources._common import STORES as _STORES
from persist._sources.aws import aws_secrets_source
from persist._sources.env import PersistEnvSource
from persist._sources.flyte_env import LegacyFlyteEnvSource
from persist._sources.keywords import KeywordSource
from persist._sources.secrets_dir import SecretsDirSource
from persist._sources.yaml_file import YamlFileSource
from persist.errors import ConfigError

__all__ = [
    "ExtraSource",
    "Loaded",
    "Slot",
    "SourceFactory",
    "SourceLike",
    "Traced",
    "default_sources",
    "file_sources",
    "load",
    "merge",
    "resolve",
    "settings_class",
    "validation_problems",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

SourceFactory: TypeAlias = Callable[[type[BaseSettings]], PydanticBaseSettingsSource]
"""Builds a source from the settings class, as ``settings_customise_sources`` receives it."""

SourceLike: TypeAlias = PydanticBaseSettingsSource | SourceFactory
"""A pydantic-settings source, or a callable that builds one from the settings class."""

Slot: TypeAlias = Literal["env", "flyte_env", "yaml", "secrets_dir", "aws_secrets", "defaults"]
"""The built-in source an extra source goes just above (wins over); ``defaults`` is the bottom."""

ExtraSource: TypeAlias = SourceLike | tuple[Slot, SourceLike]
"""An extra source for ``DataConfig.auto(extra_sources=...)``: a source, or ``(slot, source)``."""

DEFAULT_SLOT: Slot = "yaml"
"""Where an extra source goes when no slot is given: below the variables, above the YAML file."""


class _LoadingSettings(BaseSettings):
    """Base of the settings classes the sources are built with; never instantiated."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        env_ignore_empty=True,
        extra="forbid",
        # Nothing validates through this class (the public model does), so its validator is
        # never built: that keeps a load from paying for a second schema.
        defer_build=True,
    )


@functools.cache
def settings_class(model: type[BaseModel]) -> type[BaseSettings]:
    """A private BaseSettings mirror of ``model`` (same fields), to build sources with.

    pydantic-settings sources are typed to take a ``BaseSettings`` class and read its
    ``model_config`` and ``model_fields``. The public models stay plain frozen models (so
    ``DataConfig()`` reads nothing); this mirror exists only while loading.
    """
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in model.model_fields.items()}
    mirror: type[BaseSettings] = create_model(
        f"_{model.__name__}Settings", __base__=_LoadingSettings, __module__=__name__, **fields
    )
    return mirror


class Traced:
    """A source wrapped to record what it returned and where each value came from.

    Calling it gives a :class:`~persist._sources._common.Layer`: the source's dict, the origin
    of every value (what persist's own sources noted, else the source's label, else its repr)
    and any problem, including an exception the source raised, as a ConfigError naming it.
    """

    def __init__(
        self, source: PydanticBaseSettingsSource | None, label: str = "", *, failed: Layer | None = None
    ):
        self.source = source
        self.label = label or getattr(source, "label", "") or repr(source)
        self._failed = failed

    def __repr__(self) -> str:
        return f"Traced({self.source!r})"

    def __call__(self) -> Layer:
        if self.source is None:
            return self._failed or Layer()
        try:
            data = self.source()
        except ConfigError as err:
            return Layer(problems=list(err.problems))
        except SettingsError as exc:
            # pydantic-settings' messages name a field and the source class, never a value.
            return Layer(problems=[ConfigError(self.label, "", _first_line(exc))])
        found = self.source.found if isinstance(self.source, Explained) else Layer()
        layer = Layer(
            data=dict(data),
            problems=list(found.problems),
            notes=list(found.notes),
            bucket=found.bucket,
            ignored=list(found.ignored),
        )
        for loc in _locs(data):
            layer.origins[loc] = found.origins.get(loc) or Origin(self.label, ".".join(loc))
        return layer


def _first_line(exc: BaseException) -> str:
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


def _locs(data: Mapping[str, Any]) -> list[Loc]:
    """Each value's place: (section, field) inside a mapping section, else (section,).

    A store's values are placed as deep as they go: ``("stores", "public", "s3", "region")``.
    """
    locs: list[Loc] = []
    for section, value in data.items():
        if str(section) == _STORES and isinstance(value, Mapping) and value:
            locs.extend(_deep_locs(value, (_STORES,)))
        elif isinstance(value, Mapping) and value:
            locs.extend((str(section), str(name)) for name in value)
        else:
            locs.append((str(section),))
    return locs


def _deep_locs(data: Mapping[str, Any], parent: Loc) -> list[Loc]:
    locs: list[Loc] = []
    for key, value in data.items():
        loc = (*parent, str(key))
        if isinstance(value, Mapping) and value:
            locs.extend(_deep_locs(value, loc))
        else:
            locs.append(loc)
    return locs


def _build(factory: Callable[[], PydanticBaseSettingsSource | None], label: str = "") -> Traced | None:
    """Build a source and wrap it; a source that fails while reading becomes its problem."""
    try:
        source = factory()
    except ConfigError as err:
        return Traced(None, label, failed=Layer(problems=list(err.problems)))
    except SettingsError as exc:
        return Traced(None, label, failed=Layer(problems=[ConfigError(label, "", _first_line(exc))]))
    return None if source is None else Traced(source, label)


def _extra(entry: ExtraSource, settings: type[BaseSettings]) -> tuple[Slot, Traced | None]:
    slot, source = entry if isinstance(entry, tuple) else (DEFAULT_SLOT, entry)
    if isinstance(source, PydanticBaseSettingsSource):
        return slot, Traced(source)
    return slot, _build(lambda: source(settings))


def default_sources(
    model: type[BaseModel],
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    extra_sources: Sequence[ExtraSource] = (),
    environ: Mapping[str, str] | None = None,
    overrides_label: str | None = None,
) -> list[Traced]:
    """Every source in priority order, highest first; defaults live on the model fields.

    Args:
        model: The config model (``DataConfig``); the sources are built with its settings mirror.
        config_file: The YAML file given in code; None reads ``PERSIST_CONFIG``/``FLYTECTL_CONFIG``.
        overrides: Sections given in code.
        extra_sources: Further pydantic-settings sources, each placed just above a built-in one.
        environ: The environment to read (``os.environ`` when None).
        overrides_label: How provenance names ``overrides`` (default ``keyword arguments``; the
            CLI says ``command-line options``).
    """
    settings = settings_class(model)
    env = os.environ if environ is None else environ
    precedence: tuple[tuple[Slot | None, Callable[[], PydanticBaseSettingsSource | None]], ...] = (
        (None, lambda: KeywordSource(settings, overrides or {}, overrides_label)),  # 1. keywords
        ("env", lambda: PersistEnvSource(settings, env)),  # 2. PERSIST_S3__ENDPOINT ...
        ("flyte_env", lambda: LegacyFlyteEnvSource(settings, env)),  # 3. FLYTE_AWS_ENDPOINT ...
        ("yaml", lambda: YamlFileSource(settings, config_file, env)),  # 4. file from code or PERSIST_CONFIG
        ("secrets_dir", lambda: SecretsDirSource(settings, None, env)),  # 5. PERSIST_SECRETS_DIR files
        ("aws_secrets", lambda: aws_secrets_source(settings, env)),  # 6. PERSIST_AWS_SECRET_ID secret
    )  # 7. defaults live on the fields
    extras = [_extra(entry, settings) for entry in extra_sources]
    sources: list[Traced | None] = []
    for slot, factory in precedence:
        sources.extend(traced for where, traced in extras if where == slot)
        sources.append(_build(factory))
    sources.extend(traced for where, traced in extras if where == "defaults")
    sources.append(_ignored_controls(env))
    return [traced for traced in sources if traced is not None]


def file_sources(
    model: type[BaseModel],
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    overrides_label: str | None = None,
) -> list[Traced]:
    """One YAML file on its own (``DataConfig.from_yaml``, ``persist validate`` without --env).

    ``overrides`` (sections given in code, or the CLI's timeout options, named by
    ``overrides_label``) win over the file.
    """
    settings = settings_class(model)
    sources = [
        _build(lambda: KeywordSource(settings, overrides, overrides_label)) if overrides else None,
        _build(lambda: YamlFileSource(settings, path, {})),
    ]
    return [traced for traced in sources if traced is not None]


def _ignored_controls(environ: Mapping[str, str]) -> Traced | None:
    """The AWS secret's control variables, when set but empty, as ignored variables."""
    ignored = [var for var in (AWS_SECRET_ID_ENV, AWS_SECRET_REGION_ENV) if blank(environ.get(var))]
    return Traced(None, failed=Layer(ignored=ignored)) if ignored else None


def merge(layers: Iterable[Layer]) -> Layer:
    """Merge layers field by field; earlier layers win, and a whole section replaces fields."""
    layers = list(layers)
    merged = Layer()
    for layer in reversed(layers):
        _merge_into(merged.data, layer.data)
    for layer in layers:
        for loc, origin in layer.origins.items():
            merged.origins.setdefault(loc, origin)
        merged.problems.extend(layer.problems)
        merged.notes.extend(layer.notes)
        merged.ignored.extend(layer.ignored)
        merged.bucket = merged.bucket or layer.bucket
    return merged


def _merge_into(target: dict[str, Any], data: Mapping[str, Any]) -> None:
    """Merge ``data`` over ``target``, mapping by mapping (a store's fields come from any source)."""
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = _copy(value)


def _copy(value: Any) -> Any:
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class Loaded(Generic[ModelT]):
    """What :func:`resolve` found: the config and everything ``persist show`` explains about it."""

    config: ModelT
    origins: dict[Loc, Origin]
    bucket: tuple[str, Origin] | None
    """The deployment's bucket named by a Flyte file (``storage.container``), if any."""
    ignored: list[str]
    """Variables that were set but empty, hence treated as unset."""
    notes: list[Note]


def load(model: type[ModelT], sources: Iterable[Traced]) -> tuple[ModelT, dict[Loc, Origin]]:
    """Read, merge and validate sources; return the config and the origin of every set value.

    Raises:
        ConfigError: listing every problem found, each naming its source and dotted field.
    """
    loaded = resolve(model, sources)
    return loaded.config, loaded.origins


def resolve(model: type[ModelT], sources: Iterable[Traced]) -> Loaded[ModelT]:
    """Like :func:`load`, also returning the deployment's bucket, ignored variables and notes.

    Raises:
        ConfigError: listing every problem found, each naming its source and dotted field.
    """
    merged = merge(source() for source in sources)
    problems = list(merged.problems)
    config: ModelT | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = model.model_validate(merged.data)
        except ValidationError as exc:
            for loc, msg in validation_problems(exc, sections_of(model)):
                origin = _origin_of(tuple(str(p) for p in loc), merged.origins)
                exact = origin is not None and origin.key.lower() == ".".join(map(str, loc)).lower()
                if loc and loc[0] == _STORES and not exact:
                    key = ".".join(map(str, loc))  # a store's field, or a store as a whole
                else:
                    key = origin.key if origin and len(loc) >= 2 else ".".join(map(str, loc))
                problems.append(ConfigError(origin.source if origin else "", key, msg))
    for warning in caught:
        origin = _origin_of(("s3", "adressing_style"), merged.origins)
        prefix = f"{origin.source}: " if origin else ""
        warnings.warn_explicit(
            f"{prefix}{warning.message}", warning.category, warning.filename, warning.lineno
        )
    if problems:
        raise ConfigError.from_problems(problems)
    assert config is not None  # noqa: S101 - validation either returned or raised
    return Loaded(config, merged.origins, merged.bucket, sorted(set(merged.ignored)), merged.notes)


def validation_problems(
    exc: ValidationError, sections: Mapping[str, type[BaseModel]]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Turn a ValidationError into (loc, message) pairs built only from ``loc`` and ``msg``.

    The ``input`` of each error is never read: for a secret field it is the secret itself.
    """
    # Imported here: the sources never import persist.config at import time (it imports them).
    from persist.config import AT_SEP

    problems: list[tuple[tuple[str | int, ...], str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if AT_SEP in msg and loc and loc[0] == _STORES:
            # A store's validator names the field it is about (config._at): place the error there.
            field, msg = msg.split(AT_SEP, 1)
            loc = (*loc, *field.split("."))
        if loc and loc[0] == _STORES:
            loc = tuple(p for p in loc if not isinstance(p, int))  # prefixes.0: the list, not the item
        if err["type"] == "extra_forbidden" and loc:
            msg = "unknown key; " + did_you_mean(str(loc[-1]), _allowed_keys(loc[:-1], sections))
        problems.append((loc, msg))
    return problems


def _allowed_keys(loc: tuple[str | int, ...], sections: Mapping[str, type[BaseModel]]) -> list[str]:
    if not loc:
        return [*sections, _STORES]
    if loc[0] == _STORES and len(loc) >= 2:
        from persist.config import SECTIONS, StoreConfig

        store_fields = list(StoreConfig.model_fields)
        if len(loc) == 2:
            return store_fields
        model = SECTIONS.get(str(loc[2]))
        return list(model.model_fields) if model else store_fields
    model = sections.get(str(loc[0]))
    return list(model.model_fields) if model else []


def _origin_of(loc: Loc, origins: Mapping[Loc, Origin]) -> Origin | None:
    """The origin of a value, or of the highest-priority value in its section (or store)."""
    if loc and loc[0] == _STORES:
        for size in range(len(loc), 1, -1):
            if loc[:size] in origins:
                return origins[loc[:size]]
        for key, origin in origins.items():
            if key[: len(loc)] == loc or (len(loc) >= 2 and key[:2] == loc[:2]):
                return origin
    for size in range(min(len(loc), 2), 0, -1):
        if loc[:size] in origins:
            return origins[loc[:size]]
    if loc:
        for key, origin in origins.items():
            if key[0] == loc[0]:
                return origin
    return None
