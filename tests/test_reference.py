"""The generated config reference: complete, honest docstrings, and current in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from persist._reference import (
    END_MARKER,
    START_MARKER,
    config_reference_markdown,
    env_names,
    field_description,
    main,
    replace_section,
)
from persist._sources import LEGACY_ENV, env_name
from persist.config import SECTIONS, StoreConfig

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
HEADER = "| Field | Type | Default | Environment variables | Description |"

FIELDS = [(section, name) for section, model in SECTIONS.items() for name in model.model_fields]
"""Every (section, field) pair, in model order."""

ROWS: dict[str, Any] = {
    "argnames": ("field", "row"),
    "argvalues": [
        (
            "s3.endpoint",
            "| `s3.endpoint` | string | unset | `PERSIST_S3__ENDPOINT`, `FLYTE_AWS_ENDPOINT` "
            "| URL of the S3 API, for S3-compatible stores; unset means AWS. |",
        ),
        (
            "s3.addressing_style",
            "| `s3.addressing_style` | `auto` or `virtual` or `path` | `auto` "
            "| `PERSIST_S3__ADDRESSING_STYLE`, `FLYTE_AWS_ADDRESSING_STYLE` "
            "| How the bucket goes into request URLs: auto, virtual or path (path for most local stores). |",
        ),
        (
            "s3.backoff",
            "| `s3.backoff` | duration (seconds or ISO 8601) | `5` s "
            "| `PERSIST_S3__BACKOFF`, `FLYTE_AWS_BACKOFF_SECONDS` "
            "| Base delay between retries, doubled each retry, with jitter; seconds or ISO 8601, "
            "at most 300 s. |",
        ),
        (
            "s3.session_token",
            "| `s3.session_token` | secret string | unset | `PERSIST_S3__SESSION_TOKEN` "
            "| Session token of temporary credentials (secret). |",
        ),
        (
            "generic.write_chunk_size_bytes",
            "| `generic.write_chunk_size_bytes` | integer >= 5242880 | `26214400` (25 MiB) "
            "| `PERSIST_GENERIC__WRITE_CHUNK_SIZE_BYTES`, `_F_P_WRITE_CHUNK_SIZE` "
            "| Part size of multipart uploads to S3 and GCS (and Azure, with the obstore engine), in bytes "
            "(S3 needs at least 5 MiB). Unset, the obstore engine uses 8 MiB parts, measured faster, and "
            "a GCS upload of 5 MiB or more goes in one streamed request. |",
        ),
        (
            "generic.max_concurrency",
            "| `generic.max_concurrency` | integer >= 1, <= 1024 | `16` | `PERSIST_GENERIC__MAX_CONCURRENCY` "
            "| Files in flight at once in a folder transfer; bounds memory and open connections. |",
        ),
        (
            "generic.attach_execution_metadata",
            "| `generic.attach_execution_metadata` | boolean | `true` "
            "| `PERSIST_GENERIC__ATTACH_EXECUTION_METADATA`, `FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA` "
            "| Store the provider's execution metadata as user metadata on uploaded objects. |",
        ),
    ],
}
"""A sample of rows, exactly as the table renders them."""


def table_rows() -> dict[str, str]:
    """The table's rows by dotted field name."""
    rows = config_reference_markdown().splitlines()[2:]
    return {row.split("`")[1]: row for row in rows}


class TestTable:
    def test_table_starts_with_header(self) -> None:
        """The table is one Markdown table with the documented columns."""
        lines = config_reference_markdown().splitlines()
        assert lines[:2] == [HEADER, "|---|---|---|---|---|"]

    def test_one_row_per_field_in_model_order(self) -> None:
        """Every field of every section has exactly one row, in declaration order, then a store's."""
        store_rows = [f"stores.<name>.{name}" for name in StoreConfig.model_fields]
        assert list(table_rows()) == [f"{section}.{name}" for section, name in FIELDS] + store_rows

    def test_every_row_has_five_cells(self) -> None:
        """No description breaks the table (pipes are escaped)."""
        for row in config_reference_markdown().splitlines():
            assert row.replace("\\|", "").count("|") == 6

    @pytest.mark.parametrize(**ROWS)
    def test_row_text(self, field: str, row: str) -> None:
        """Sample rows render exactly: type, default, variables and the docstring without Env."""
        assert table_rows()[field] == row

    @pytest.mark.parametrize(("section", "name"), FIELDS, ids=lambda v: str(v))
    def test_row_lists_every_variable(self, section: str, name: str) -> None:
        """Each row names the PERSIST_ variable and every flytekit variable of its field."""
        row = table_rows()[f"{section}.{name}"]
        env_cell = row.split(" | ")[3]
        expected = [env_name(section, name)] + [
            var for var, target in LEGACY_ENV.items() if target == (section, name)
        ]
        assert env_cell == ", ".join(f"`{var}`" for var in expected)

    def test_env_names_puts_persist_first(self) -> None:
        """env_names gives persist's own variable, then flytekit's."""
        assert env_names("azure", "account_key") == [
            "PERSIST_AZURE__ACCOUNT_KEY",
            "FLYTE_AZURE_STORAGE_ACCOUNT_KEY",
        ]
        assert env_names("gcs", "project") == ["PERSIST_GCS__PROJECT"]

    def test_description_drops_env_part_and_joins_lines(self) -> None:
        """The description cell is the docstring on one line, without its Env: list."""
        info = SECTIONS["s3"].model_fields["retries"]
        assert field_description(info) == (
            "Retries after the first attempt for throttling and connection resets of S3 requests "
            "(2 means at most 3 attempts)."
        )


class TestDocstrings:
    @pytest.mark.parametrize(("section", "name"), FIELDS, ids=lambda v: str(v))
    def test_docstring_names_every_variable(self, section: str, name: str) -> None:
        """Each field's docstring mentions its PERSIST_ variable and all its flytekit names, so the
        schema descriptions and `persist show` tell the truth."""
        description = SECTIONS[section].model_fields[name].description or ""
        for var in env_names(section, name):
            assert var in description

    @pytest.mark.parametrize(("section", "name"), FIELDS, ids=lambda v: str(v))
    def test_docstring_names_no_other_variable(self, section: str, name: str) -> None:
        """A docstring's Env: list holds only variables that really set that field."""
        description = SECTIONS[section].model_fields[name].description or ""
        env_part = description.split("Env:", 1)[1]
        named = {word.strip(" .,\n") for word in env_part.split()}
        assert named == set(env_names(section, name))


class TestReadme:
    def test_readme_reference_is_current(self) -> None:
        """README.md holds the generated table between the config-reference markers."""
        text = README.read_text(encoding="utf-8")
        start, end = text.find(START_MARKER), text.find(END_MARKER)
        assert 0 <= start < end, f"README.md needs {START_MARKER} ... {END_MARKER}"
        section = text[start + len(START_MARKER) : end]
        assert section == "\n" + config_reference_markdown(), (
            "README config reference is stale; "
            "regenerate with `python -m persist._reference --write README.md`"
        )

    def test_write_replaces_only_the_marked_section(self, tmp_path: Path) -> None:
        """--write swaps the text between the markers and keeps everything around them."""
        path = tmp_path / "README.md"
        path.write_text(
            f"# Title\n\nbefore\n{START_MARKER}\nold table\n{END_MARKER}\nafter\n", encoding="utf-8"
        )
        assert main(["--write", str(path)]) == 0
        assert path.read_text(encoding="utf-8") == (
            f"# Title\n\nbefore\n{START_MARKER}\n{config_reference_markdown()}{END_MARKER}\nafter\n"
        )

    def test_write_is_idempotent(self, tmp_path: Path) -> None:
        """Writing twice gives the same file as writing once."""
        path = tmp_path / "README.md"
        path.write_text(f"{START_MARKER}{END_MARKER}\n", encoding="utf-8")
        main(["--write", str(path)])
        once = path.read_text(encoding="utf-8")
        main(["--write", str(path)])
        assert path.read_text(encoding="utf-8") == once

    def test_write_without_markers_fails(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file without the markers is left alone and the command exits 1 naming the file."""
        path = tmp_path / "README.md"
        path.write_text("# no markers\n", encoding="utf-8")
        assert main(["--write", str(path)]) == 1
        assert path.read_text(encoding="utf-8") == "# no markers\n"
        assert capsys.readouterr().err == f"{path}: expected {START_MARKER} followed by {END_MARKER}\n"

    def test_markers_in_wrong_order_are_rejected(self) -> None:
        """An end marker before the start marker is an error, not a silent no-op."""
        with pytest.raises(ValueError, match="expected"):
            replace_section(f"{END_MARKER}\n{START_MARKER}\n", "table\n")

    def test_module_prints_the_table(self) -> None:
        """`python -m persist._reference` prints the table to stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "persist._reference"], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert result.stdout == config_reference_markdown()
