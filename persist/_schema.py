"""JSON Schemas of persist's config files, generated from the models (``persist schema``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from persist._sources.flyte_layout import STORAGE_TYPES, STOW_KINDS
from persist.config import SECTIONS, AddressingStyle, DataConfig

__all__ = ["SCHEMA_FILES", "config_file_schema", "render", "write_schemas"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _flytekit_layout() -> dict[str, Any]:
    """The flytekit layout: only ``storage.connection`` is read, every other section is ignored."""
    string = {"type": "string"}
    connection = {
        "type": "object",
        "description": "S3 connection settings; persist maps them onto the s3 section.",
        "properties": {
            "endpoint": {**string, "description": "URL of the S3 API (s3.endpoint)."},
            "access-key": {**string, "description": "Access key id (s3.access_key_id)."},
            "secret-key": {
                **string,
                "description": "Secret access key (s3.secret_access_key); prefer "
                "FLYTE_AWS_SECRET_ACCESS_KEY or PERSIST_S3__SECRET_ACCESS_KEY.",
            },
            "addressing-style": {
                "enum": list(get_args(AddressingStyle)),
                "description": "How the bucket goes into request URLs (s3.addressing_style).",
            },
            "region": {**string, "description": "Region name (s3.region)."},
            "auth-type": {**string, "description": "Written by flytectl; ignored by persist."},
            "disable-ssl": {"type": "boolean", "description": "Written by flytectl; ignored by persist."},
        },
        "additionalProperties": False,
    }
    stow_kind = {"enum": list(STOW_KINDS), "description": "s3, google, azure or local."}
    stow_config = {
        "type": "object",
        "description": "s3: auth_type (accesskey/iam), access_key_id, secret_key (prefer "
        "FLYTE_AWS_SECRET_ACCESS_KEY), token, endpoint, region, disable_ssl, "
        "addressing_style, v2_signing; google: json, project_id, scopes; azure: account, "
        "key (prefer FLYTE_AZURE_STORAGE_ACCOUNT_KEY), domain_suffix, upload_concurrency; "
        "local: path.",
    }
    stow = {
        "type": "object",
        "description": "Flyte's stow backend: kind and its config (map of strings).",
        "properties": {"kind": stow_kind, "config": stow_config},
        "additionalProperties": False,
    }
    return {
        "title": "Flyte config file",
        "description": "Flyte's layout (flytekit, flytectl, the Flyte backend): persist reads "
        "storage.connection, storage.stow (or storage.kind and storage.config), storage.type and "
        "storage.container, and ignores the other sections (admin, logger, ...). It cannot be "
        "mixed with persist's own sections.",
        "type": "object",
        "required": ["storage"],
        "properties": {
            "storage": {
                "type": "object",
                "properties": {
                    "type": {"enum": list(STORAGE_TYPES), "description": "Flyte's storage type."},
                    "container": {
                        **string,
                        "description": "The deployment's bucket; `persist validate --probe` "
                        "without a URI probes it.",
                    },
                    "connection": connection,
                    "stow": stow,
                    "kind": stow_kind,
                    "config": stow_config,
                },
                "additionalProperties": True,
            }
        },
        "not": {"anyOf": [{"required": [section]} for section in (*SECTIONS, "stores")]},
        "additionalProperties": True,
    }


def config_file_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a persist YAML config file, in either layout.

    Returns:
        A new dict: ``anyOf`` persist's native layout (the DataConfig model) and flytekit's
        ``storage.connection`` layout, with every model definition under the top-level ``$defs``.
    """
    native = DataConfig.model_json_schema()
    defs = native.pop("$defs", {})
    return {
        "$schema": _DRAFT,
        "title": "persist config file",
        "description": "Storage configuration for persist: persist's layout (s3, gcs, azure, "
        "generic sections) or Flyte's (storage.connection, storage.stow, storage.container). "
        "Keep secrets out of files: "
        "use PERSIST_<SECTION>__<FIELD> variables or PERSIST_SECRETS_DIR.",
        "anyOf": [native, _flytekit_layout()],
        "$defs": defs,
    }


SCHEMA_FILES: dict[str, Callable[[], dict[str, Any]]] = {
    "persist-config.schema.json": config_file_schema,
}
"""The files ``persist schema --out DIR`` writes, by name, and the function building each."""


def render(schema: dict[str, Any]) -> str:
    """The text of a schema file: two-space indented JSON in the schema's own key order."""
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write_schemas(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every schema in :data:`SCHEMA_FILES` into ``out_dir`` (created if missing).

    Args:
        out_dir: the directory to write, usually ``schemas``.

    Returns:
        The paths written, in :data:`SCHEMA_FILES` order.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in SCHEMA_FILES.items():
        path = directory / name
        # Explicit encoding and newline: the committed files must not depend on the platform.
        path.write_text(render(build()), encoding="utf-8", newline="\n")
        written.append(path)
    return written
