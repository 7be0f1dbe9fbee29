"""Config sources: pydantic-settings source classes, wrapped to record where each value came from.

Precedence, highest first (``default_sources``): keyword arguments, ``PERSIST_*`` variables,
flytekit's ``FLYTE_*`` variables, the YAML file, the ``PERSIST_SECRETS_DIR`` files, the
``PERSIST_AWS_SECRET_ID`` secret, then the defaults on the model's fields. Importing this
package imports pydantic-settings: ``persist.config`` imports it only when a load starts.
"""

from __future__ import annotations

from persist._sources._common import (
    AWS_SECRET_ID_ENV,
    AWS_SECRET_REGION_ENV,
    CONFIG_ENV,
    ENV_PREFIX,
    FLYTECTL_CONFIG_ENV,
    SECRETS_DIR_ENV,
    Layer,
    Note,
    Origin,
    env_name,
)
from persist._sources.aws import AwsSecretsManagerSource
from persist._sources.env import PersistEnvSource
from persist._sources.flyte_env import LEGACY_ENV, LegacyFlyteEnvSource
from persist._sources.keywords import KeywordSource
from persist._sources.load import (
    ExtraSource,
    Loaded,
    Slot,
    SourceFactory,
    SourceLike,
    Traced,
    default_sources,
    file_sources,
    load,
    resolve,
    settings_class,
)
from persist._sources.secrets_dir import SecretsDirSource
from persist._sources.yaml_file import YamlFileSource, read_yaml

__all__ = [
    "AWS_SECRET_ID_ENV",
    "AWS_SECRET_REGION_ENV",
    "CONFIG_ENV",
    "ENV_PREFIX",
    "FLYTECTL_CONFIG_ENV",
    "LEGACY_ENV",
    "SECRETS_DIR_ENV",
    "AwsSecretsManagerSource",
    "ExtraSource",
    "KeywordSource",
    "Layer",
    "LegacyFlyteEnvSource",
    "Loaded",
    "Note",
    "Origin",
    "PersistEnvSource",
    "SecretsDirSource",
    "Slot",
    "SourceFactory",
    "SourceLike",
    "Traced",
    "YamlFileSource",
    "default_sources",
    "env_name",
    "file_sources",
    "load",
    "read_yaml",
    "resolve",
    "settings_class",
]
