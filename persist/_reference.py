"""The Markdown reference of every config field, generated from the models for the README.

Regenerate the README's copy with ``python -m persist._reference --write README.md``.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from persist._sources import LEGACY_ENV, env_name
from persist.config import SECTIONS

__all__ = [
    "END_MARKER",
    "START_MARKER",
    "config_reference_markdown",
    "env_names",
    "field_description",
    "replace_section",
]

START_MARKER = "<!-- config-reference:start -->"
"""Opens the generated table in the README."""

END_MARKER = "<!-- config-reference:end -->"
"""Closes the generated table in the README."""

_ENV_SUFFIX = re.compile(r"\s*Env:.*\Z", re.DOTALL)
_HEADER = "| Field | Type | Default | Environment variables | Description |\n|---|---|---|---|---|\n"


def env_names(section: str, name: str) -> list[str]:
    """Every environment variable that sets a field: ``PERSIST_...`` first, then flytekit's."""
    legacy = [var for var, target in LEGACY_ENV.items() if target == (section, name)]
    return [env_name(section, name), *legacy]


def field_description(info: FieldInfo) -> str:
    """A field's docstring on one line, without the trailing ``Env: ...`` part."""
    text = _ENV_SUFFIX.sub("", info.description or "")
    return " ".join(text.split()).replace("``", "`")


def _type_name(annotation: Any, info: FieldInfo) -> str:
    """A short, readable name of a field's type, with its bounds."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{value}`" for value in get_args(annotation))
    names = {str: "string", bool: "boolean", int: "integer", SecretStr: "secret string"}
    if annotation is timedelta:
        name = "duration (seconds or ISO 8601)"
    else:
        name = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = []
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            bounds.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Le):
            bounds.append(f"<= {item.le}")
    return " ".join([name, ", ".join(bounds)]).strip()


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        return f"`{value.total_seconds():g}` s"
    if isinstance(value, int) and value >= 1024 * 1024 and value % (1024 * 1024) == 0:
        return f"`{value}` ({value // (1024 * 1024)} MiB)"
    return f"`{value}`"


def config_reference_markdown() -> str:
    """One Markdown table with a row per config field, in model order.

    Returns:
        The table, ending in a newline: dotted field, type, default, every environment variable
        that sets the field, and the field's docstring.
    """
    rows = []
    for section, model in SECTIONS.items():
        for name, info in model.model_fields.items():
            cells = [
                f"`{section}.{name}`",
                _type_name(info.annotation, info),
                _default(info.default),
                ", ".join(f"`{var}`" for var in env_names(section, name)),
                field_description(info),
            ]
            rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n")
    rows.extend(_store_rows())
    return _HEADER + "".join(rows)


def _store_rows() -> list[str]:
    """Rows of a named store's own fields (``stores.<name>.*``); its sections take the fields above."""
    from persist.config import StoreConfig

    rows = []
    for name, info in StoreConfig.model_fields.items():
        if name in SECTIONS:
            kind = f"the `{name}` section's fields"
            default = "unset (the section's defaults)"
        else:
            kind = "list of URL prefixes" if name == "prefixes" else _type_name(info.annotation, info)
            default = "required" if info.is_required() else _default(info.default)
        var = f"`PERSIST_STORES__<NAME>__{name.upper()}" + ("__<FIELD>`" if name in SECTIONS else "`")
        cells = [f"`stores.<name>.{name}`", kind, default, var, field_description(info)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n")
    return rows


def replace_section(text: str, table: str) -> str:
    """``text`` with everything between the reference markers replaced by ``table``.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    start = text.find(START_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"expected {START_MARKER} followed by {END_MARKER}")
    head = text[: start + len(START_MARKER)]
    return f"{head}\n{table}{text[end:]}"


def main(argv: list[str] | None = None) -> int:
    """Print the table, or rewrite the section of a Markdown file between the markers."""
    parser = argparse.ArgumentParser(prog="python -m persist._reference", description=__doc__)
    parser.add_argument("--write", metavar="FILE", help="replace the table between the markers in FILE")
    args = parser.parse_args(argv)
    table = config_reference_markdown()
    if args.write is None:
        sys.stdout.write(table)
        return 0
    path = Path(args.write)
    try:
        text = path.read_text(encoding="utf-8")
        updated = replace_section(text, table)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"{path}: {exc}\n")
        return 1
    if updated != text:
        path.write_text(updated, encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
