"""What every config source shares: variable names, provenance records and name checks.

This module imports neither pydantic-settings nor persist.config, so the layout readers
(``flyte_layout``) can use it without an import cycle.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from persist.errors import ConfigError

__all__ = [
    "AWS_SECRET_ID_ENV",
    "AWS_SECRET_REGION_ENV",
    "CONFIG_ENV",
    "CONTROL_ENV",
    "ENV_PREFIX",
    "FLYTECTL_CONFIG_ENV",
    "SECRETS_DIR_ENV",
    "STORES",
    "Explained",
    "Layer",
    "ListFriendly",
    "Loc",
    "Note",
    "Origin",
    "blank",
    "did_you_mean",
    "env_name",
    "named_field",
    "sections_of",
]

ENV_PREFIX = "PERSIST_"
"""Prefix of persist's own environment variables: ``PERSIST_<SECTION>__<FIELD>``."""

CONFIG_ENV = "PERSIST_CONFIG"
"""Names the YAML file to read when no path is given in code."""

FLYTECTL_CONFIG_ENV = "FLYTECTL_CONFIG"
"""Names the YAML file when no path is given and ``PERSIST_CONFIG`` is unset (``flytectl demo``)."""

SECRETS_DIR_ENV = "PERSIST_SECRETS_DIR"
"""Names a directory of secret files, one value per file (Kubernetes-style mounted secrets)."""

AWS_SECRET_ID_ENV = "PERSIST_AWS_SECRET_ID"  # noqa: S105 - a variable name, not a secret
"""Names an AWS Secrets Manager secret (a JSON object of ``PERSIST_*`` keys) to read values from."""

AWS_SECRET_REGION_ENV = "PERSIST_AWS_SECRET_REGION"  # noqa: S105 - a variable name
"""Region of the ``PERSIST_AWS_SECRET_ID`` secret; unset lets boto3 find it (``AWS_REGION``...)."""

CONTROL_ENV = frozenset({CONFIG_ENV, SECRETS_DIR_ENV, AWS_SECRET_ID_ENV, AWS_SECRET_REGION_ENV})
"""``PERSIST_*`` variables that say where to read, not what a field holds."""

Loc = tuple[str, ...]
"""A field's place in the model: ``("s3", "endpoint")``, or ``("s3",)`` for a whole section;
a store's fields are deeper: ``("stores", "public", "s3", "region")``."""

STORES = "stores"
"""The section of named stores: ``stores.<name>.<field>`` or ``stores.<name>.<section>.<field>``."""


def env_name(section: str, name: str) -> str:
    """The ``PERSIST_<SECTION>__<FIELD>`` variable for a field."""
    return f"{ENV_PREFIX}{section.upper()}__{name.upper()}"


def blank(value: str | None) -> bool:
    """An empty or whitespace-only value: Helm and Kustomize render unset values that way.

    pydantic-settings' ``env_ignore_empty`` drops only ``""``; persist also drops ``"  "``.
    """
    return value is not None and not value.strip()


def did_you_mean(word: str, choices: list[str]) -> str:
    """A hint naming the closest of ``choices`` to ``word``, or listing them all."""
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "allowed: " + ", ".join(choices)


def sections_of(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The sections of a config model: its fields whose type is itself a model."""
    sections: dict[str, type[BaseModel]] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = annotation
    return sections


def named_field(source: str, name: str, sections: dict[str, type[BaseModel]]) -> Loc | ConfigError:
    """Read a ``PERSIST_<SECTION>__<FIELD>`` name (any case) as a field's place, or say why not.

    ``PERSIST_STORES__<NAME>__<FIELD>`` and ``PERSIST_STORES__<NAME>__<SECTION>__<FIELD>`` name
    a store's fields. A known section with an unknown field is returned as is: validation then
    reports it with a did-you-mean hint for the field. ``source`` is what the error names
    (variable, file, secret).
    """
    rest = name[len(ENV_PREFIX) :] if name.upper().startswith(ENV_PREFIX) else ""
    parts = rest.lower().split("__")
    if parts[0] == STORES and len(parts) in (3, 4) and all(parts):
        return tuple(parts)
    if len(parts) != 2 or not all(parts) or parts[0] == STORES:
        allowed = (
            f"{ENV_PREFIX}<SECTION>__<FIELD> with SECTION one of "
            + ", ".join(s.upper() for s in sections)
            + f", or {ENV_PREFIX}STORES__<NAME>__[<SECTION>__]<FIELD>"
        )
        return ConfigError(source, "", f"{name} is not a persist setting; use {allowed}")
    section, field_name = parts
    if section not in sections:
        return ConfigError(source, section, "unknown key; " + did_you_mean(section, [*sections, STORES]))
    return section, field_name


@dataclass(frozen=True)
class Origin:
    """Where a value came from: the source (file, variable, secret...) and the key as written there."""

    source: str
    key: str


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


@dataclass
class Layer:
    """What one source supplied, in the model's layout, with the origin of each value.

    pydantic-settings sources return plain dicts and record no provenance (its issue #756);
    the wrapper in ``persist._sources.load`` builds a Layer from each source's dict and, for
    persist's own sources, from what they noted while reading.
    """

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


class ListFriendly:
    """Mixin for env-style sources: a store's ``prefixes`` may be a comma-separated list.

    pydantic-settings reads a list-typed variable as JSON and fails on anything else;
    ``PERSIST_STORES__PUBLIC__PREFIXES=s3://a/,s3://b/`` is passed on as text, which the
    model splits (JSON lists still work).
    """

    def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
        if field_name == "prefixes" and isinstance(value, str) and not value.strip().startswith("["):
            return value
        return super().decode_complex_value(field_name, field, value)  # type: ignore[misc]


class Explained:
    """Mixin for persist's own sources: what they found besides values, noted while reading.

    ``found`` holds the origin of each value as written (a variable's exact name, a Flyte key
    path, a secret file's path), problems, notes, the bucket and ignored variables; its ``data``
    stays empty, the values being what the source returns. A source without this mixin (an
    extension's, or one of pydantic-settings' own) is named by its ``repr`` for every value.
    """

    found: Layer
