"""Committed artifacts: schemas/ is current, and every config example is valid and secret-free."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

from persist._schema import SCHEMA_FILES, config_file_schema, render, write_schemas
from persist.config import SECRET_FIELDS, SECTIONS, DataConfig

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "config-examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/persist-config.schema.json"

EMULATOR_SECRETS: dict[str, dict[tuple[str, str], str]] = {
    "azure-azurite.yaml": {
        ("azure", "account_key"): (
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
        ),
    },
    "s3-moto.yaml": {("s3", "secret_access_key"): "testing"},
}
"""The only secrets an example may hold: public emulator credentials, in their emulator's file."""

CREDENTIAL_PATTERNS = [
    r"\b(AKIA|ASIA)[A-Z0-9]{16}\b",  # AWS access key ids
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",  # service-account JSON and other private keys
    r"AccountKey=",  # Azure connection strings
    r"[?&]sig=",  # Azure SAS signatures
    r"\bsecret-key\s*:",  # flytekit's secret, outside its allowed place (the environment)
]
"""Shapes of real credentials that must not appear anywhere in an example."""

INVALID_DOCUMENTS: dict[str, Any] = {
    "argnames": "document",
    "argvalues": [
        pytest.param({"s3": {"endpoit": "http://a:1"}}, id="unknown-field"),
        pytest.param({"s3": {"addressing_style": "dns"}}, id="bad-enum"),
        pytest.param({"s3": {"retries": -1}}, id="negative-retries"),
        pytest.param({"s3": {"backoff": -1}}, id="negative-backoff"),
        pytest.param({"blob": {}}, id="unknown-section"),
        pytest.param({"admin": {"endpoint": "dns:///x"}}, id="flytekit-without-storage"),
        pytest.param({"storage": {"connection": {"acess-key": "k"}}}, id="unknown-connection-key"),
        pytest.param({"storage": {"connection": {"addressing-style": "dns"}}}, id="bad-connection-enum"),
        pytest.param({"s3": {}, "storage": {"connection": {}}}, id="mixed-layouts"),
    ],
}
"""Documents persist rejects, which the schema must reject too (editors flag them as you type)."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS / "persist-config.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


class TestSchemaFiles:
    def test_schemas_directory_is_current(self) -> None:
        """schemas/ holds exactly the freshly rendered schemas, byte for byte."""
        committed = {path.name: path.read_text(encoding="utf-8") for path in SCHEMAS.glob("*.json")}
        fresh = {name: render(build()) for name, build in SCHEMA_FILES.items()}
        assert committed == fresh, "schemas/ is stale; regenerate with `persist schema --out schemas`"

    def test_write_schemas_writes_every_file(self, tmp_path: Path) -> None:
        """write_schemas creates the directory and writes each schema, returning the paths."""
        written = write_schemas(tmp_path / "out")
        assert [path.name for path in written] == list(SCHEMA_FILES)
        assert written[0].read_text(encoding="utf-8") == render(config_file_schema())

    def test_render_is_indented_json_with_trailing_newline(self) -> None:
        """Rendered schemas keep key order, indent by two spaces and end in a newline."""
        assert render({"b": 1, "a": [2]}) == '{\n  "b": 1,\n  "a": [\n    2\n  ]\n}\n'

    def test_schema_is_draft_2020_12(self) -> None:
        """The schema declares draft 2020-12, has a title and description, and no $id."""
        schema = config_file_schema()
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"]
        assert schema["description"]
        assert "$id" not in schema

    def test_every_model_definition_is_hoisted(self) -> None:
        """Every section model is defined under the top-level $defs, and only there."""
        schema = config_file_schema()
        assert {model.__name__ for model in SECTIONS.values()} <= set(schema["$defs"])
        assert all("$defs" not in branch for branch in schema["anyOf"])

    def test_every_field_is_in_the_schema(self) -> None:
        """Every model field appears in its section's schema, with its docstring as description."""
        defs = config_file_schema()["$defs"]
        for model in SECTIONS.values():
            properties = defs[model.__name__]["properties"]
            for name, info in model.model_fields.items():
                assert properties[name]["description"] == info.description

    def test_deprecated_alias_is_documented(self) -> None:
        """The misspelt adressing_style is in the schema, marked deprecated, next to the real fields."""
        properties = config_file_schema()["$defs"]["S3Config"]["properties"]
        assert properties["adressing_style"]["deprecated"] is True
        assert "addressing_style" in properties

    @pytest.mark.parametrize(**INVALID_DOCUMENTS)
    def test_schema_rejects_what_persist_rejects(
        self, document: Any, validator: Draft202012Validator
    ) -> None:
        """Documents persist refuses are invalid against the schema as well."""
        assert not validator.is_valid(document)

    def test_deprecated_alias_document_is_valid(self, validator: Draft202012Validator) -> None:
        """A file still using adressing_style validates (persist reads it, with a warning)."""
        assert validator.is_valid({"s3": {"adressing_style": "path"}})


class TestExamples:
    def test_examples_exist(self) -> None:
        """The examples DESIGN.md promises are all present."""
        names = {path.name for path in EXAMPLE_FILES}
        assert {"s3-moto.yaml", "azure-azurite.yaml", "flytekit-legacy.yaml", "local.yaml"} <= names
        assert len(names) >= 12

    def test_readme_lists_every_example(self) -> None:
        """config-examples/README.md has a table row for each example and for nothing else."""
        readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
        listed = set(re.findall(r"^\| \[`([^`]+\.yaml)`\]", readme, flags=re.MULTILINE))
        assert listed == {path.name for path in EXAMPLE_FILES}

    @pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
    def test_example_validates_against_schema(self, path: Path, validator: Draft202012Validator) -> None:
        """Each example is valid against the committed schema."""
        errors = [error.message for error in validator.iter_errors(load_yaml(path))]
        assert errors == []

    @pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
    def test_example_loads_without_warnings(self, path: Path) -> None:
        """Each example loads with DataConfig.from_yaml, with no warning (no deprecated keys)."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            config = DataConfig.from_yaml(path)
        assert config != DataConfig()

    @pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
    def test_example_starts_with_schema_line(self, path: Path) -> None:
        """Each example's first line points the YAML language server at the schema."""
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == SCHEMA_LINE
        assert lines[2].startswith("# "), "a comment paragraph says when to use the file"

    @pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
    def test_example_holds_only_emulator_secrets(self, path: Path) -> None:
        """Secret fields are absent from every example, except public emulator credentials in
        their emulator's file; a Flyte file leaves secret-key, secret_key, key and json to the environment."""
        document = load_yaml(path)
        present = {
            (section, name): values[name]
            for section, values in document.items()
            if section in SECTIONS and isinstance(values, dict)
            for name in values
            if (section, name) in SECRET_FIELDS
        }
        assert present == EMULATOR_SECRETS.get(path.name, {})
        storage = document.get("storage") or {}
        assert "secret-key" not in (storage.get("connection") or {})
        stow_config = (storage.get("stow") or {}).get("config") or storage.get("config") or {}
        assert not {"secret_key", "token", "key"} & {str(k).lower() for k in stow_config}
        assert not stow_config.get("json"), "inline service-account JSON is a private key"

    @pytest.mark.parametrize("name", sorted(EMULATOR_SECRETS))
    def test_emulator_secrets_are_marked(self, name: str) -> None:
        """A file holding emulator credentials says so in capitals."""
        assert "EMULATOR ONLY" in (EXAMPLES / name).read_text(encoding="utf-8")

    @pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
    def test_emulator_secret_values_stay_in_their_files(self, path: Path) -> None:
        """The emulator keys do not leak into other examples either (not even in comments)."""
        text = path.read_text(encoding="utf-8")
        for owner, secrets in EMULATOR_SECRETS.items():
            if owner == path.name:
                continue
            for value in secrets.values():
                if len(value) > 10:
                    assert value not in text

    @pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
    def test_example_text_has_no_credential_patterns(self, path: Path) -> None:
        """No example text, comments included, holds something shaped like a real credential."""
        text = path.read_text(encoding="utf-8")
        for pattern in CREDENTIAL_PATTERNS:
            assert not re.search(pattern, text), pattern
