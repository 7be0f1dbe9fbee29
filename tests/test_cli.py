"""The ``persist`` command, run in-process with click's CliRunner (no storage server needed).

Every test asserts the exit status and the exact text the command prints: 0 when all is well,
1 for problems (one line each, never a traceback), 2 for usage errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from persist.cli import GCS_ENDPOINT_NOTE, TransferProgress, cli, iso_utc
from persist.options import CONFIGURED_PROTOCOLS
from tests.integration.servers import find_free_port

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
EXAMPLES = sorted((ROOT / "config-examples").glob("*.yaml"))
COMMANDS = ("cp", "ls", "options", "schema", "show", "validate", "version")

SECRET = f"canary{uuid.uuid4().hex}00"
"""A secret value unique to this run: it must never appear in anything the command prints.

Its letters and length make it valid base64, as an Azure account key must be."""

ENV_SECRET = f"envcanary{uuid.uuid4().hex}abc"
"""A second unique secret, supplied through the environment."""

GOOD = "s3:\n  endpoint: http://127.0.0.1:9000\n  addressing_style: path\n  retries: 2\n"
BAD = (
    "s3:\n"
    "  endpoit: http://127.0.0.1:9000\n"
    "  retries: -1\n"
    "  addressing_style: dns\n"
    "azure:\n"
    "  account_host: not a host\n"
)
BAD_LINES = [
    "s3.addressing_style: Input should be 'auto', 'virtual' or 'path'",
    "s3.retries: Input should be greater than or equal to 0",
    "s3.endpoit: unknown key; did you mean 'endpoint'?",
    "azure.account_host: must be a host name such as myaccount.blob.core.windows.net, "
    "or an http(s)://host:port[/account] URL",
]
"""What ``validate`` says about BAD, after ``FILE: ``, in the order it prints them."""

WITH_SECRET = (
    "s3:\n"
    "  endpoint: http://127.0.0.1:9000\n"
    "  access_key_id: AKEXAMPLE\n"
    f"  secret_access_key: {SECRET}\n"
    "azure:\n"
    "  account_name: myaccount\n"
    f"  account_key: {SECRET}\n"
)
DEPRECATED = "s3:\n  adressing_style: path\n"
LEGACY = (
    "admin:\n  endpoint: dns:///flyte.example.com\nstorage:\n  connection:\n    endpoint: http://minio:9000\n"
)

INLINE_SECRET_NOTE = (
    "s3.secret_access_key: secret written in the file; set PERSIST_S3__SECRET_ACCESS_KEY "
    "or put it in a file in the PERSIST_SECRETS_DIR directory"
)
DEPRECATED_NOTE = "s3.adressing_style: deprecated spelling; write addressing_style"
NO_STORAGE = "admin:\n  endpoint: dns:///flyte.example.com\nlogger:\n  level: 1\n"
NO_STORAGE_NOTE = (
    "storage: no storage settings found; persist reads storage.connection, storage.stow "
    "(or storage.kind and storage.config) and storage.container"
)
V2_SIGNING = (
    "storage:\n  type: stow\n  container: b\n  stow:\n    kind: s3\n    config:\n"
    "      endpoint: http://localhost:30002\n      v2_signing: true\n"
)
V2_SIGNING_NOTE = (
    "storage.stow.config.v2_signing: true has no persist equivalent: persist signs requests "
    "with Signature Version 4, which the store must accept"
)
FINDINGS = [
    pytest.param(WITH_SECRET, INLINE_SECRET_NOTE, id="inline-secret"),
    pytest.param(DEPRECATED, DEPRECATED_NOTE, id="deprecated-key"),
    pytest.param(NO_STORAGE, NO_STORAGE_NOTE, id="no-storage-settings"),
    pytest.param(V2_SIGNING, V2_SIGNING_NOTE, id="flyte-key-without-equivalent"),
]
"""Files that are valid but draw a note: a warning on stderr, or a problem under --strict."""

PROBE_STEP = r"  {step:<7} {verdict:<6} +\d+ ms  {detail}"
PROBE_NAME = r"\.persist-probe-[0-9a-f]{12}"
"""The random name the probe gives its test object, as a pattern."""
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
"""A modification time as ls prints it, as a pattern."""
STAMP = "2026-12-02T01:02:03Z"
SUMMARY = r"copied {files} \({size}\) to {dst} in \d+\.\d\d s \(.+/s\)\n"

pytestmark = pytest.mark.usefixtures("fresh_filesystems")


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write a config file under tmp_path and return its path as the CLI receives it."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def invoke(runner: CliRunner, *args: str) -> Result:
    """Run ``persist ARGS``; exceptions are reported by the command, never by the runner."""
    result = runner.invoke(cli, list(args), prog_name="persist", catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def make_tree(root: Path) -> Path:
    """A small folder: a.txt (6 bytes) and sub/b.txt (7 bytes)."""
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "sub" / "b.txt").write_bytes(b"world!\n")
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root, by relative path, with its content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def probe_step(step: str, detail: str, *, ok: bool = True) -> str:
    """The pattern of one probe step line (``detail`` is a pattern too)."""
    return PROBE_STEP.format(step=step, verdict="ok" if ok else "FAILED", detail=detail)


def failed_write(reason: str) -> list[str]:
    """The step lines of a probe whose first step, the write, failed with ``reason`` (a pattern)."""
    return [probe_step("write", reason, ok=False)]


def assert_probe(result: Result, config: str, target: str, steps: list[str], *, passed: bool) -> None:
    """The exit status and every line of a probe of ``target``: header, ``steps`` (patterns), verdict."""
    assert result.exit_code == (0 if passed else 1), result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"{config}: OK", f"{config}: probe {target}"], result.stdout
    assert re.fullmatch(r"  store   \S.*", lines[2]), lines[2]
    assert re.fullmatch(r"  auth    \S.*", lines[3]), lines[3]
    assert len(lines) == len(steps) + 5, result.stdout
    for pattern, line in zip(steps, lines[4:-1], strict=True):
        assert re.fullmatch(pattern, line), line
    verdict = "OK" if passed else "FAILED"
    assert re.fullmatch(re.escape(f"{config}: probe {verdict} (") + r"\d+ ms\)", lines[-1]), lines[-1]


def assert_probe_passed(result: Result, config: str, target: str, entries: str = r"\d+") -> None:
    """Exit 0 and the seven lines of a passing probe; the list step saw ``entries`` (a pattern)."""
    steps = [
        probe_step("write", re.escape(target) + "/" + PROBE_NAME),
        probe_step("read", "42 bytes match"),
        probe_step("list", f"{entries} entries"),
        probe_step("delete", "removed"),
    ]
    assert_probe(result, config, target, steps, passed=True)


class TestValidate:
    def test_valid_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """A valid file gives one `FILE: OK` line and exit 0."""
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", path)
        assert result.exit_code == 0
        assert result.stdout == f"{path}: OK\n"
        assert result.stderr == ""

    def test_every_problem_is_listed(self, runner: CliRunner, tmp_path: Path) -> None:
        """Every problem is printed as FILE: dotted.field: message, not only the first; exit 1."""
        path = write(tmp_path, "bad.yaml", BAD)
        result = invoke(runner, "validate", path)
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [f"{path}: {line}" for line in BAD_LINES]
        assert result.stderr == ""

    def test_several_files(self, runner: CliRunner, tmp_path: Path) -> None:
        """Each file is reported in order; one bad file makes the exit status 1."""
        good = write(tmp_path, "good.yaml", GOOD)
        bad = write(tmp_path, "bad.yaml", BAD)
        other = write(tmp_path, "other.yaml", "generic:\n  max_concurrency: 4\n")
        result = invoke(runner, "validate", good, bad, other)
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [
            f"{good}: OK",
            *(f"{bad}: {line}" for line in BAD_LINES),
            f"{other}: OK",
        ]

    def test_all_files_valid(self, runner: CliRunner, tmp_path: Path) -> None:
        """Several valid files exit 0 with one OK line each."""
        paths = [write(tmp_path, f"f{i}.yaml", GOOD) for i in range(3)]
        result = invoke(runner, "validate", *paths)
        assert result.exit_code == 0
        assert result.stdout == "".join(f"{p}: OK\n" for p in paths)

    def test_missing_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """A missing file is a problem naming the file, not a traceback."""
        path = str(tmp_path / "missing.yaml")
        result = invoke(runner, "validate", path)
        assert result.exit_code == 1
        assert result.stdout == f"{path}: cannot read the file: No such file or directory\n"
        assert "Traceback" not in result.output

    def test_malformed_yaml(self, runner: CliRunner, tmp_path: Path) -> None:
        """A YAML syntax error names the line and column."""
        path = write(tmp_path, "broken.yaml", "s3: [1,\n")
        result = invoke(runner, "validate", path)
        assert result.exit_code == 1
        assert result.stdout == (
            f"{path}: line 2, column 1: not valid YAML: expected the node content, but found '<stream end>'\n"
        )

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            pytest.param([], "Error: Missing argument 'FILE...'.", id="no-file"),
            pytest.param(
                ["--bogus", "x.yaml"],
                # click's own wording, which changed in click 8.4 ("No such option '--bogus'.").
                f"Error: {click.exceptions.NoSuchOption('--bogus').format_message()}",
                id="unknown-option",
            ),
            pytest.param(["--probe"], "Error: Missing argument 'FILE...'.", id="probe-no-file"),
        ],
    )
    def test_usage_errors(self, runner: CliRunner, args: list[str], message: str) -> None:
        """Usage errors exit 2 with click's message."""
        result = invoke(runner, "validate", *args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == message

    @pytest.mark.parametrize(("text", "note"), FINDINGS)
    def test_warnings_without_strict(self, runner: CliRunner, tmp_path: Path, text: str, note: str) -> None:
        """Inline secrets, deprecated keys, files without storage settings and Flyte keys persist
        cannot honour are warnings on stderr, never a bare OK; exit 0."""
        path = write(tmp_path, "f.yaml", text)
        result = invoke(runner, "validate", path)
        assert result.exit_code == 0
        assert result.stdout == f"{path}: OK\n"
        assert f"warning: {path}: {note}" in result.stderr.splitlines()

    @pytest.mark.parametrize(("text", "note"), FINDINGS)
    def test_strict_fails(self, runner: CliRunner, tmp_path: Path, text: str, note: str) -> None:
        """With --strict the same findings are problems; exit 1."""
        path = write(tmp_path, "f.yaml", text)
        result = invoke(runner, "validate", "--strict", path)
        assert result.exit_code == 1
        assert f"{path}: {note}" in result.stdout.splitlines()
        assert f"{path}: OK" not in result.stdout
        assert result.stderr == ""

    def test_strict_lists_every_inline_secret(self, runner: CliRunner, tmp_path: Path) -> None:
        """Each secret written in the file gets its own line."""
        path = write(tmp_path, "f.yaml", WITH_SECRET)
        result = invoke(runner, "validate", "--strict", path)
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [
            f"{path}: {INLINE_SECRET_NOTE}",
            f"{path}: azure.account_key: secret written in the file; set PERSIST_AZURE__ACCOUNT_KEY "
            "or put it in a file in the PERSIST_SECRETS_DIR directory",
        ]

    def test_strict_passes_clean_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """A clean file passes --strict."""
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", "--strict", path)
        assert result.exit_code == 0
        assert result.stdout == f"{path}: OK\n"
        assert result.stderr == ""

    def test_env_is_ignored_without_flag(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without --env only the file is checked."""
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "many")
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", path)
        assert result.exit_code == 0
        assert result.stdout == f"{path}: OK\n"

    def test_env_problem_names_variable(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--env applies FLYTE_* variables; a bad one is reported under the variable's name."""
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "many")
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", "--env", path)
        assert result.exit_code == 1
        assert result.stdout == (
            "FLYTE_AWS_RETRIES: s3.retries: Input should be a valid integer, "
            "unable to parse string as an integer\n"
        )

    def test_env_unknown_persist_variable(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A misspelt PERSIST_* variable is an error naming it."""
        monkeypatch.setenv("PERSIST_S3__ENDPOIT", "http://127.0.0.1:9000")
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", "--env", path)
        assert result.exit_code == 1
        assert result.stdout == "PERSIST_S3__ENDPOIT: s3.endpoit: unknown key; did you mean 'endpoint'?\n"

    def test_env_and_file_problems_together(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Problems from the environment and from the file are all listed."""
        monkeypatch.setenv("PERSIST_GCS__REQUESTER_PAYS", "perhaps")
        path = write(tmp_path, "bad.yaml", "s3:\n  retries: -1\n")
        result = invoke(runner, "validate", "--env", path)
        assert result.exit_code == 1
        assert sorted(result.stdout.splitlines()) == sorted(
            [
                "PERSIST_GCS__REQUESTER_PAYS: gcs.requester_pays: Input should be a valid boolean, "
                "unable to interpret input",
                f"{path}: s3.retries: Input should be greater than or equal to 0",
            ]
        )

    def test_env_valid(self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Valid variables on top of a valid file pass."""
        monkeypatch.setenv("PERSIST_S3__RETRIES", "5")
        monkeypatch.setenv("FLYTE_AWS_SECRET_ACCESS_KEY", ENV_SECRET)
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", "--env", path)
        assert result.exit_code == 0
        assert result.stdout == f"{path}: OK\n"

    @pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
    def test_config_examples(self, runner: CliRunner, example: Path) -> None:
        """Every committed example validates."""
        result = invoke(runner, "validate", str(example))
        assert result.exit_code == 0
        assert result.stdout == f"{example}: OK\n"


class TestProbeLocal:
    def test_probe_local_folder(self, runner: CliRunner, tmp_path: Path) -> None:
        """--probe reports write/read/list/delete with timings and leaves nothing behind."""
        path = write(tmp_path, "good.yaml", GOOD)
        target = tmp_path / "probe"
        target.mkdir()
        result = invoke(runner, "validate", path, "--probe", str(target))
        assert_probe_passed(result, path, str(target), entries="1")
        assert list(target.iterdir()) == []

    def test_probe_failure(self, runner: CliRunner, tmp_path: Path) -> None:
        """A failed write is one FAILED line with the reason, then probe FAILED; exit 1."""
        path = write(tmp_path, "good.yaml", GOOD)
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        target = str(blocker / "sub")
        result = invoke(runner, "validate", path, "--probe", target)
        assert_probe(result, path, target, failed_write("Not a directory"), passed=False)

    def test_no_probe_for_invalid_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """An invalid file is not probed."""
        path = write(tmp_path, "bad.yaml", BAD)
        result = invoke(runner, "validate", path, "--probe", str(tmp_path))
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [f"{path}: {line}" for line in BAD_LINES]


class TestCredentialsInEndpoints:
    """An endpoint URL with a password is refused, and the password printed nowhere (issue 15, 3)."""

    PASSWORD = "url-pa55-canary"

    @pytest.mark.parametrize(
        ("variable", "args"),
        [
            ("PERSIST_S3__ENDPOINT", ("show",)),
            ("PERSIST_S3__ENDPOINT", ("options", "s3")),
            ("PERSIST_GCS__ENDPOINT", ("options", "gs")),
            ("PERSIST_AZURE__ACCOUNT_HOST", ("options", "abfs")),
            ("PERSIST_S3__ENDPOINT", ("ls", "s3://bucket/")),
        ],
    )
    def test_refused_without_echo(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, variable: str, args: tuple[str, ...]
    ) -> None:
        monkeypatch.setenv(variable, f"http://admin:{self.PASSWORD}@127.0.0.1:9000")
        result = invoke(runner, *args)
        assert result.exit_code == 1
        assert "must not hold credentials (user:password@host)" in result.output
        assert self.PASSWORD not in result.output


class TestShow:
    @pytest.fixture
    def config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        """A file with secrets, plus a PERSIST_* and a FLYTE_* variable on top of it."""
        monkeypatch.setenv("PERSIST_S3__REGION", "eu-west-1")
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "7")
        monkeypatch.setenv("PERSIST_AZURE__CLIENT_SECRET", ENV_SECRET)
        monkeypatch.setenv("PERSIST_AZURE__TENANT_ID", "tenant")
        monkeypatch.setenv("PERSIST_AZURE__CLIENT_ID", "client")
        return write(tmp_path, "secret.yaml", WITH_SECRET)

    def test_yaml(self, runner: CliRunner, config: str) -> None:
        """Each value is annotated with its source: default, file path or variable; secrets masked."""
        result = invoke(runner, "show", "--config", config)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        s3 = lines[lines.index("s3:") : lines.index("gcs:")]
        assert s3 == [
            "s3:",
            f"  endpoint: http://127.0.0.1:9000  # {config}",
            f"  access_key_id: AKEXAMPLE  # {config}",
            f"  secret_access_key: '[secure]'  # {config}",
            "  addressing_style: auto  # default",
            "  retries: 7  # FLYTE_AWS_RETRIES",
            "  backoff: 5.0  # default",
            "  enable_debug: false  # default",
            "  session_token: null  # default",
            "  region: eu-west-1  # PERSIST_S3__REGION",
            "  upload_checksum: true  # default",
            "  requester_pays: false  # default",
        ]
        assert "  gsutil_parallelism: false  # default" in lines
        assert f"  account_key: '[secure]'  # {config}" in lines
        assert "  client_secret: '[secure]'  # PERSIST_AZURE__CLIENT_SECRET" in lines
        assert "  attach_execution_metadata: true  # default" in lines
        assert [line for line in lines if not line.startswith("  ")] == ["s3:", "gcs:", "azure:", "generic:"]
        assert SECRET not in result.output
        assert ENV_SECRET not in result.output
        assert result.stderr == ""

    def test_json(self, runner: CliRunner, config: str) -> None:
        """--format json gives {section: {field: {value, source}}}."""
        result = invoke(runner, "show", "--config", config, "--format", "json")
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert list(shown) == ["s3", "gcs", "azure", "generic"]
        assert shown["s3"]["endpoint"] == {"value": "http://127.0.0.1:9000", "source": config}
        assert shown["s3"]["secret_access_key"] == {"value": "[secure]", "source": config}
        assert shown["s3"]["retries"] == {"value": 7, "source": "FLYTE_AWS_RETRIES"}
        assert shown["s3"]["region"] == {"value": "eu-west-1", "source": "PERSIST_S3__REGION"}
        assert shown["s3"]["backoff"] == {"value": 5.0, "source": "default"}
        assert shown["azure"]["client_secret"] == {
            "value": "[secure]",
            "source": "PERSIST_AZURE__CLIENT_SECRET",
        }
        assert shown["generic"]["max_concurrency"] == {"value": 16, "source": "default"}
        assert SECRET not in result.output
        assert ENV_SECRET not in result.output

    def test_config_from_environment(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without --config the file named by PERSIST_CONFIG is read."""
        path = write(tmp_path, "good.yaml", GOOD)
        monkeypatch.setenv("PERSIST_CONFIG", path)
        result = invoke(runner, "show")
        assert result.exit_code == 0
        assert f"  retries: 2  # {path}" in result.stdout.splitlines()

    def test_defaults_only(self, runner: CliRunner) -> None:
        """With no source at all every value is a default."""
        result = invoke(runner, "show", "--format", "json")
        assert result.exit_code == 0
        sources = {
            entry["source"] for fields in json.loads(result.stdout).values() for entry in fields.values()
        }
        assert sources == {"default"}

    def test_invalid_config(self, runner: CliRunner, tmp_path: Path) -> None:
        """An invalid config is one `persist: error:` line per problem; exit 1."""
        path = write(tmp_path, "bad.yaml", BAD)
        result = invoke(runner, "show", "--config", path)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.splitlines() == [f"persist: error: {path}: {line}" for line in BAD_LINES]

    def test_deprecated_key_warning(self, runner: CliRunner, tmp_path: Path) -> None:
        """A deprecated key is one `warning:` line on stderr, and its value is shown."""
        path = write(tmp_path, "old.yaml", DEPRECATED)
        result = invoke(runner, "show", "--config", path)
        assert result.exit_code == 0
        assert f"  addressing_style: path  # {path}" in result.stdout.splitlines()
        assert (
            result.stderr == f"warning: {path}: s3.adressing_style is deprecated; spell it addressing_style\n"
        )

    def test_bad_format(self, runner: CliRunner) -> None:
        """An unknown format is a usage error."""
        result = invoke(runner, "show", "--format", "toml")
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1] == (
            "Error: Invalid value for '--format': 'toml' is not one of 'yaml', 'json'."
        )


class TestOptions:
    def test_s3_masked(self, runner: CliRunner, tmp_path: Path) -> None:
        """The s3 options as JSON, with the secret masked."""
        path = write(tmp_path, "secret.yaml", WITH_SECRET)
        result = invoke(runner, "options", "s3", "--config", path)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {
            "cache_regions": True,
            "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"},
            "key": "AKEXAMPLE",
            "secret": "[secure]",
            "config_kwargs": {"connect_timeout": 10.0, "read_timeout": 60.0},
        }
        assert SECRET not in result.output

    def test_group_timeouts_reach_the_options(self, runner: CliRunner, tmp_path: Path) -> None:
        """persist --connect-timeout/--read-timeout override the config for any command."""
        path = write(tmp_path, "secret.yaml", WITH_SECRET)
        result = invoke(
            runner, "--connect-timeout", "3", "--read-timeout", "4.5", "options", "s3", "--config", path
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["config_kwargs"] == {"connect_timeout": 3.0, "read_timeout": 4.5}

    def test_show_names_the_group_options_as_the_source(self, runner: CliRunner, tmp_path: Path) -> None:
        """persist show labels a value from --connect-timeout as a command-line option."""
        path = write(tmp_path, "secret.yaml", WITH_SECRET)
        result = invoke(runner, "--connect-timeout", "3", "show", "--config", path, "--format", "json")
        assert result.exit_code == 0, result.output
        generic = json.loads(result.stdout)["generic"]
        assert generic["connect_timeout"] == {"value": 3.0, "source": "command-line options"}
        assert generic["read_timeout"]["source"] == "default"

    def test_group_timeout_must_be_positive(self, runner: CliRunner) -> None:
        result = invoke(runner, "--read-timeout", "0", "options", "s3")
        assert result.exit_code == 2
        assert "Invalid value for '--read-timeout'" in result.output

    def test_abfs_masked(self, runner: CliRunner, tmp_path: Path) -> None:
        """The abfs options as JSON, with the account key masked."""
        path = write(tmp_path, "secret.yaml", WITH_SECRET)
        result = invoke(runner, "options", "abfs", "--config", path)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {
            "account_name": "myaccount",
            "account_key": "[secure]",
            "anon": False,
            "connection_timeout": 10,
            "read_timeout": 60,
        }
        assert SECRET not in result.output

    def test_secret_from_environment_masked(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A secret from a variable is masked like one from a file."""
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", ENV_SECRET)
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "options", "s3", "--config", path)
        assert result.exit_code == 0
        assert json.loads(result.stdout)["secret"] == "[secure]"
        assert ENV_SECRET not in result.output

    @pytest.mark.parametrize(("protocol", "key"), [("s3", "secret"), ("abfs", "account_key")])
    def test_reveal(self, runner: CliRunner, tmp_path: Path, protocol: str, key: str) -> None:
        """--reveal prints the secrets, ready to paste as storage_options."""
        path = write(tmp_path, "secret.yaml", WITH_SECRET)
        result = invoke(runner, "options", protocol, "--config", path, "--reveal")
        assert result.exit_code == 0
        assert json.loads(result.stdout)[key] == SECRET

    def test_file(self, runner: CliRunner) -> None:
        """The local filesystem's options."""
        result = invoke(runner, "options", "file")
        assert result.exit_code == 0
        assert json.loads(result.stdout) == {"auto_mkdir": True}

    def test_missing_protocol(self, runner: CliRunner) -> None:
        """PROTOCOL is required unless --for URI names one; the error lists the protocols."""
        result = invoke(runner, "options")
        assert result.exit_code == 2
        error = result.stderr[result.stderr.index("Error:") :]
        assert error.split() == [
            "Error:",
            "Missing",
            "argument",
            "'PROTOCOL'.",
            "Choose",
            "from:",
            *(f"{p}," for p in CONFIGURED_PROTOCOLS[:-1]),
            CONFIGURED_PROTOCOLS[-1],
            "(or",
            "give",
            "--for",
            "URI).",
        ]

    @pytest.mark.parametrize("protocol", ["hdfs", "S3", "GS"])
    def test_unknown_protocol_is_a_usage_error(self, runner: CliRunner, protocol: str) -> None:
        """A protocol persist does not configure (or in the wrong case) lists the ones it does."""
        result = invoke(runner, "options", protocol)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == (
            f"Error: Invalid value for 'PROTOCOL': '{protocol}' is not one of "
            "'file', 'local', 's3', 's3a', 'gs', 'gcs', 'abfs', 'abfss', 'az'."
        )

    def test_gs_with_endpoint_bounds_the_bucket_type_probe(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With an endpoint, gs options carry retry_timeout and stderr says what else to set."""
        monkeypatch.setenv("PERSIST_GCS__ENDPOINT", "http://127.0.0.1:4443")
        result = invoke(runner, "options", "gs")
        assert result.exit_code == 0
        assert json.loads(result.stdout) == {"endpoint_url": "http://127.0.0.1:4443", "retry_timeout": 0.1}
        assert result.stderr == GCS_ENDPOINT_NOTE + "\n"
        assert "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false" in result.stderr

    def test_gs_without_endpoint_has_no_note(self, runner: CliRunner) -> None:
        """Against Google itself there is nothing to add, and nothing is said."""
        result = invoke(runner, "options", "gs")
        assert (result.exit_code, result.stdout, result.stderr) == (0, "{}\n", "")


class TestSchema:
    def test_out_equals_committed(self, runner: CliRunner, tmp_path: Path) -> None:
        """`persist schema --out DIR` writes exactly the committed schemas/ files."""
        out = tmp_path / "schemas"
        result = invoke(runner, "schema", "--out", str(out))
        assert result.exit_code == 0
        committed = sorted(p.name for p in SCHEMAS.glob("*.json"))
        assert sorted(p.name for p in out.iterdir()) == committed
        assert result.stdout.splitlines() == [str(out / name) for name in committed]
        for name in committed:
            assert (out / name).read_bytes() == (SCHEMAS / name).read_bytes(), (
                f"schemas/{name} is stale; run `persist schema --out schemas`"
            )

    def test_print(self, runner: CliRunner) -> None:
        """Without --out the schema is printed, byte for byte as committed."""
        result = invoke(runner, "schema")
        assert result.exit_code == 0
        committed = "".join(p.read_text(encoding="utf-8") for p in sorted(SCHEMAS.glob("*.json")))
        assert result.stdout == committed
        assert json.loads(result.stdout)["title"] == "persist config file"

    def test_unwritable_out(self, runner: CliRunner, tmp_path: Path) -> None:
        """A directory that cannot be created is one error line, not a traceback."""
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        result = invoke(runner, "schema", "--out", str(blocker / "schemas"))
        assert result.exit_code == 1
        assert (
            result.stderr
            == f"persist: error: cannot write the schemas to {blocker / 'schemas'}: Not a directory\n"
        )


class TestCp:
    def test_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """A local file copy: exit 0, the content, nothing on stdout and a summary on stderr."""
        make_tree(tmp_path / "src")
        dst = tmp_path / "copy.txt"
        result = invoke(runner, "cp", str(tmp_path / "src" / "a.txt"), str(dst))
        assert result.exit_code == 0, result.output
        assert dst.read_bytes() == b"hello\n"
        assert result.stdout == ""
        assert re.fullmatch(
            SUMMARY.format(files="1 file", size="6 B", dst=re.escape(str(dst))), result.stderr
        )

    def test_file_into_folder(self, runner: CliRunner, tmp_path: Path) -> None:
        """Copying a file into an existing folder keeps its name."""
        make_tree(tmp_path / "src")
        (tmp_path / "dst").mkdir()
        result = invoke(runner, "cp", str(tmp_path / "src" / "a.txt"), str(tmp_path / "dst"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "dst" / "a.txt").read_bytes() == b"hello\n"
        assert str(tmp_path / "dst" / "a.txt") in result.stderr

    def test_folder(self, runner: CliRunner, tmp_path: Path) -> None:
        """-r copies a folder and everything under it."""
        src = make_tree(tmp_path / "src")
        dst = tmp_path / "dst"
        result = invoke(runner, "cp", "-r", str(src), str(dst))
        assert result.exit_code == 0, result.output
        assert tree(dst) == tree(src)
        assert result.stdout == ""
        assert re.fullmatch(
            SUMMARY.format(files="2 files", size="13 B", dst=re.escape(str(dst))), result.stderr
        )

    def test_json(self, runner: CliRunner, tmp_path: Path) -> None:
        """--json prints one JSON summary on stdout and nothing on stderr."""
        src = make_tree(tmp_path / "src")
        dst = tmp_path / "dst"
        result = invoke(runner, "cp", "-r", "--json", str(src), str(dst))
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        assert len(result.stdout.splitlines()) == 1
        summary = json.loads(result.stdout)
        assert summary["files"] == 2
        assert summary["bytes"] == 13
        assert summary["src"] == str(src)
        assert summary["dst"] == str(dst)
        assert isinstance(summary["seconds"], float)
        assert tree(dst) == tree(src)

    @pytest.mark.parametrize("flag", ["--quiet", "-q"])
    def test_quiet(self, runner: CliRunner, tmp_path: Path, flag: str) -> None:
        """--quiet prints nothing at all."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "cp", "-r", flag, str(src), str(tmp_path / "dst"))
        assert result.exit_code == 0
        assert result.output == ""
        assert tree(tmp_path / "dst") == tree(src)

    def test_folder_needs_recursive(self, runner: CliRunner, tmp_path: Path) -> None:
        """A folder without -r is a usage error; nothing is copied."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "cp", str(src), str(tmp_path / "dst"))
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1] == f"Error: {src} is a folder; use -r to copy it"
        assert not (tmp_path / "dst").exists()

    def test_missing_source(self, runner: CliRunner, tmp_path: Path) -> None:
        """A missing source is a single `persist: error:` line, exit 1, no traceback."""
        missing = tmp_path / "nonexistent"
        dst = tmp_path / "x"
        result = invoke(runner, "cp", str(missing), str(dst))
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == f"persist: error: {missing} does not exist; nothing was uploaded to {dst}\n"
        assert "Traceback" not in result.output
        assert not dst.exists()

    def test_debug_shows_chain(self, runner: CliRunner, tmp_path: Path) -> None:
        """--debug adds the traceback before the same error line."""
        missing = tmp_path / "nonexistent"
        dst = tmp_path / "x"
        result = invoke(runner, "--debug", "cp", str(missing), str(dst))
        assert result.exit_code == 1
        assert "Traceback (most recent call last)" in result.stderr
        assert "persist.errors.DataNotFoundError" in result.stderr
        assert result.stderr.splitlines()[-1] == (
            f"persist: error: {missing} does not exist; nothing was uploaded to {dst}"
        )

    def test_unknown_protocol(self, runner: CliRunner, tmp_path: Path) -> None:
        """An unknown protocol is one error line."""
        result = invoke(runner, "cp", "nosuch://bucket/key", str(tmp_path / "x"))
        assert result.exit_code == 1
        dst = tmp_path / "x"
        assert result.stderr == (
            f"persist: error: download nosuch://bucket/key -> {dst} failed; {dst} left unchanged "
            "(cannot open nosuch:// paths: Protocol not known: nosuch)\n"
        )


class TestLs:
    def test_plain(self, runner: CliRunner, tmp_path: Path) -> None:
        """One name per line, sorted."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "ls", str(src))
        assert result.exit_code == 0
        assert result.stdout.splitlines() == [str(src / "a.txt"), str(src / "sub") + os.sep]
        assert result.stderr == ""

    def test_long(self, runner: CliRunner, tmp_path: Path) -> None:
        """-l shows type, size and modification time."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "ls", "-l", str(src))
        assert result.exit_code == 0
        first, second = result.stdout.splitlines()
        assert re.fullmatch(r"- +6  " + ISO_UTC + "  " + re.escape(str(src / "a.txt")), first)
        assert re.fullmatch(r"d +\d+  " + ISO_UTC + "  " + re.escape(str(src / "sub")), second)

    def test_json(self, runner: CliRunner, tmp_path: Path) -> None:
        """--json prints a list of {name, type, size, modified}."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "ls", "--json", str(src))
        assert result.exit_code == 0
        rows = json.loads(result.stdout)
        assert [(r["name"], r["type"]) for r in rows] == [
            (str(src / "a.txt"), "file"),
            (str(src / "sub"), "directory"),
        ]
        assert rows[0]["size"] == 6
        assert all(set(r) == {"name", "type", "size", "modified"} for r in rows)
        mtime = (src / "a.txt").stat().st_mtime
        assert rows[0]["modified"] == datetime.fromtimestamp(mtime, UTC).strftime(ISO_FORMAT)

    def test_missing(self, runner: CliRunner, tmp_path: Path) -> None:
        """A missing path is one error line; exit 1."""
        missing = tmp_path / "nope"
        result = invoke(runner, "ls", str(missing))
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == f"persist: error: {missing} does not exist\n"

    def test_missing_json(self, runner: CliRunner, tmp_path: Path) -> None:
        """With --json the error is one JSON object on stderr, with the same exit status."""
        missing = tmp_path / "nope"
        result = invoke(runner, "ls", "--json", str(missing))
        assert result.exit_code == 1
        assert result.stdout == ""
        assert json.loads(result.stderr) == {"error": f"{missing} does not exist", "exit_code": 1}


class TestIsoUtc:
    """ls prints every backend's modification time in one format: ISO 8601, UTC, seconds."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(datetime(2026, 12, 2, 1, 2, 3, 456, tzinfo=UTC), STAMP, id="s3fs-datetime"),
            pytest.param(
                datetime(2026, 12, 2, 2, 2, 3, tzinfo=timezone(timedelta(hours=1))), STAMP, id="other-zone"
            ),
            pytest.param(datetime(2026, 12, 2, 1, 2, 3), STAMP, id="naive-is-utc"),
            pytest.param("2026-12-02T01:02:03.123456Z", STAMP, id="gcsfs-string"),
            pytest.param("Wed, 02 Dec 2026 01:02:03 GMT", STAMP, id="http-date"),
            pytest.param(
                datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC).timestamp() + 0.9, STAMP, id="local-mtime"
            ),
            pytest.param(None, None, id="none"),
            pytest.param("yesterday", None, id="unreadable"),
        ],
    )
    def test_format(self, value: object, expected: str | None) -> None:
        """Each backend's kind of value becomes the same text."""
        assert iso_utc(value) == expected


class TestJsonErrors:
    def test_cp_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """cp --json: a failure is one JSON object on stderr, nothing on stdout, exit 1."""
        missing = tmp_path / "nonexistent"
        dst = tmp_path / "x"
        result = invoke(runner, "cp", "--json", str(missing), str(dst))
        assert result.exit_code == 1
        assert result.stdout == ""
        assert json.loads(result.stderr) == {
            "error": f"{missing} does not exist; nothing was uploaded to {dst}",
            "exit_code": 1,
        }

    def test_cp_usage_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """cp --json: a usage error found by the command is JSON too, with exit status 2."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "cp", "--json", str(src), str(tmp_path / "dst"))
        assert result.exit_code == 2
        assert result.stdout == ""
        assert json.loads(result.stderr) == {"error": f"{src} is a folder; use -r to copy it", "exit_code": 2}

    def test_plain_errors_stay_text(self, runner: CliRunner, tmp_path: Path) -> None:
        """Without --json, errors stay one text line."""
        missing = tmp_path / "nope"
        result = invoke(runner, "ls", str(missing))
        assert result.stderr == f"persist: error: {missing} does not exist\n"


def run_in_terminal(*args: str, timeout: float = 60) -> tuple[int, str]:
    """``python -m persist ARGS`` with stderr on a pseudo-terminal: (exit status, what it showed).

    stdout is thrown away; terminal control sequences are dropped and CRLF line ends read as LF.
    """
    import pty
    import select
    import time

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "persist", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
            cwd=ROOT,
        )
        os.close(follower)
        follower = -1
        shown = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode())  # click hides the cursor meanwhile
    return status, text.replace("\r\n", "\n")


def assert_bar_drawn_once(shown: str, files: str, size: str) -> str:
    """The terminal shows the bar ending at 100 % with ``files`` and ``size``, drawn once; returns it."""
    bar, summary = shown.rstrip("\n").rsplit("\n", 1)
    final = bar.rsplit("\r", 1)[-1].rstrip()
    assert re.fullmatch(r"#+  100%  " + re.escape(f"{files} files  {size}/{size}  ") + r"\S+ \S+/s", final), (
        shown
    )
    assert bar.count(final) == 1, f"the last line was drawn more than once: {shown!r}"
    assert summary.startswith("copied "), shown
    return summary


class TestProgressBar:
    def test_terminal_shows_bytes_once(self, tmp_path: Path) -> None:
        """On a terminal, click's bar shows files and bytes against their totals; the last state
        is drawn once, then the summary on its own line."""
        src = make_tree(tmp_path / "src")
        status, shown = run_in_terminal("cp", "-r", str(src), str(tmp_path / "dst"))
        assert status == 0, shown
        summary = assert_bar_drawn_once(shown, "2/2", "13 B")
        assert summary.startswith(f"copied 2 files (13 B) to {tmp_path / 'dst'} in ")

    @pytest.mark.parametrize("flag", ["--quiet", "--json"])
    def test_no_bar_when_quiet_or_json(self, tmp_path: Path, flag: str) -> None:
        """--quiet and --json draw no bar, even on a terminal."""
        src = make_tree(tmp_path / "src")
        status, shown = run_in_terminal("cp", "-r", flag, str(src), str(tmp_path / "dst"))
        assert status == 0
        assert shown == ""

    def test_no_bar_off_terminal(self, runner: CliRunner, tmp_path: Path) -> None:
        """Off a terminal (a pipe, a file) there is no bar: only the summary line."""
        src = make_tree(tmp_path / "src")
        result = invoke(runner, "cp", "-r", str(src), str(tmp_path / "dst"))
        assert result.stderr.count("\n") == 1
        assert "#" not in result.stderr
        assert "\r" not in result.stderr

    def test_counts_from_threads(self) -> None:
        """Increments from many threads add up exactly; totals are kept once known."""
        import threading

        progress = TransferProgress(show=False)
        progress(0, 0, total_files=8, total_bytes=8000)
        progress(0, 0, total_files=99, total_bytes=99)

        def work() -> None:
            for _ in range(1000):
                progress(0, 1)
            progress(1, 0)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (progress.files, progress.nbytes) == (8, 8000)
        assert (progress.total_files, progress.total_bytes) == (8, 8000)


def run_persist(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m persist ARGS`` as a real process in the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "persist", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


class TestSubprocess:
    def test_python_m_persist_validate(self) -> None:
        """`python -m persist validate` works as a real process."""
        example = ROOT / "config-examples" / "local.yaml"
        proc = run_persist("validate", str(example))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{example}: OK\n"
        assert proc.stderr == ""

    def test_python_m_persist_validate_failure(self, tmp_path: Path) -> None:
        """A real process that finds a problem prints all of it and exits with status 1."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("s3:\n  endpoit: http://127.0.0.1:9000\n")
        proc = run_persist("validate", str(bad))
        assert proc.returncode == 1, proc.stderr
        assert proc.stdout == f"{bad}: s3.endpoit: unknown key; did you mean 'endpoint'?\n"

    def test_help_lists_commands(self) -> None:
        """`persist --help` lists the seven commands."""
        proc = run_persist("--help")
        assert proc.returncode == 0
        listed = re.findall(r"^  (\w+) ", proc.stdout.split("Commands:")[1], flags=re.MULTILINE)
        assert sorted(listed) == sorted(COMMANDS)


class TestSecretsNeverShown:
    """A unique secret in a file and in the environment never appears in any output."""

    @pytest.fixture
    def dead_endpoint(self) -> str:
        """An endpoint with nothing listening: requests fail at once, after the secret was used."""
        return f"http://127.0.0.1:{find_free_port()}"

    @pytest.fixture
    def config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_endpoint: str) -> str:
        """A file holding SECRET, with ENV_SECRET set as two variables on top."""
        monkeypatch.setenv("PERSIST_AZURE__ACCOUNT_KEY", ENV_SECRET)
        monkeypatch.setenv("FLYTE_AZURE_CLIENT_SECRET", ENV_SECRET)
        monkeypatch.setenv("FLYTE_AZURE_TENANT_ID", "tenant")
        monkeypatch.setenv("FLYTE_AZURE_CLIENT_ID", "client")
        text = WITH_SECRET.replace("http://127.0.0.1:9000", f"{dead_endpoint}\n  retries: 0")
        return write(tmp_path, "secret.yaml", text)

    def commands(self, config: str, tmp_path: Path) -> list[list[str]]:
        """Every command that handles the secrets, ending in successes and in errors."""
        return [
            ["validate", config],
            ["validate", "--strict", config],
            ["validate", "--env", config],
            ["validate", "--env", "--strict", config],
            ["show", "--config", config],
            ["show", "--config", config, "--format", "json"],
            ["options", "s3", "--config", config],
            ["options", "abfs", "--config", config],
            ["options", "az", "--config", config],
            ["ls", "s3://bucket/prefix", "--config", config],
            ["--debug", "ls", "s3://bucket/prefix", "--config", config],
            ["cp", str(tmp_path / "secret.yaml"), "s3://bucket/prefix/x", "--config", config],
            ["cp", "s3://bucket/prefix/x", str(tmp_path / "x"), "--config", config],
            ["validate", config, "--probe", "s3://bucket/prefix"],
        ]

    def test_never_printed(self, runner: CliRunner, tmp_path: Path, config: str) -> None:
        """validate, --strict, show, options without --reveal and error output hide the secrets."""
        for args in self.commands(config, tmp_path):
            result = invoke(runner, *args)
            assert result.exit_code in (0, 1), (args, result.output)
            assert SECRET not in result.output, args
            assert ENV_SECRET not in result.output, args
            if args[0] != "--debug":
                assert "Traceback" not in result.output, args

    def test_errors_are_single_lines(self, runner: CliRunner, tmp_path: Path, config: str) -> None:
        """Failed remote commands print one `persist: error:` line each."""
        for args in (
            ["ls", "s3://bucket/prefix", "--config", config],
            ["cp", str(tmp_path / "secret.yaml"), "s3://bucket/prefix/x", "--config", config],
        ):
            result = invoke(runner, *args)
            assert result.exit_code == 1, result.output
            assert result.stdout == ""
            assert len(result.stderr.splitlines()) == 1, result.stderr
            assert result.stderr.startswith("persist: error: "), result.stderr

    def test_probe_failure_hides_secret(self, runner: CliRunner, config: str) -> None:
        """A probe that fails with the secret in use reports the step, not the secret."""
        result = invoke(runner, "validate", "--env", config, "--probe", "s3://bucket/prefix")
        assert result.exit_code == 1
        assert re.search(r"^  write   FAILED +\d+ ms  cannot connect to the endpoint", result.stdout, re.M)
        assert SECRET not in result.output
        assert ENV_SECRET not in result.output

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param(f"s3:\n  secret_access_key: *{SECRET}\n", id="yaml-alias"),
            pytest.param(f"s3:\n  secret_access_key: !{SECRET} x\n", id="yaml-tag"),
            pytest.param(f"s3:\n  secret_access_key: [{SECRET}]\n", id="wrong-type"),
            pytest.param(f"s3:\n  secret_acces_key: {SECRET}\n", id="misspelt-key"),
            pytest.param(f"storage:\n  connection:\n    secret-key: [{SECRET}]\n", id="flytekit-wrong-type"),
        ],
    )
    def test_invalid_secret_values(self, runner: CliRunner, tmp_path: Path, text: str) -> None:
        """Problems with a secret's value name the field, never the value."""
        path = write(tmp_path, "bad.yaml", text)
        for args in (["validate", path], ["validate", "--strict", path], ["show", "--config", path]):
            result = invoke(runner, *args)
            assert result.exit_code == 1, (args, result.output)
            assert SECRET not in result.output, (args, result.output)

    def test_misspelt_secret_variable(
        self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A misspelt secret variable is named, its value is not shown."""
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCES_KEY", ENV_SECRET)
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", "--env", path)
        assert result.exit_code == 1
        assert result.stdout == (
            "PERSIST_S3__SECRET_ACCES_KEY: s3.secret_acces_key: unknown key; "
            "did you mean 'secret_access_key'?\n"
        )


def _interrupt_cp(args: list[str], ready: Callable[[], bool]) -> tuple[int, str, str]:
    """Run `persist cp ARGS`, send SIGINT once ``ready()`` holds; return (status, stdout, stderr).

    No signal is sent if the copy ends before it is seen to be ready (status 0, then).
    """
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "persist", "cp", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not ready() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stdout.decode(), stderr.decode()


# These copies take long enough (a few tenths of a second here) that the interrupt lands
# mid-way, almost always at the first attempt. Each test tries a few times, checking on every
# attempt that nothing partial was left, until one attempt was interrupted mid-way.
_ATTEMPTS = 5


def test_interrupted_cp_leaves_no_partial_file(tmp_path: Path) -> None:
    """Ctrl-C during `persist cp` of one file exits 130 with one line and leaves no temporary file.

    The file is not there or, when the interrupt landed just as the copy ended, complete, and
    the line says which. (The test used to fail when the copy ended before the interrupt.)
    """
    size = 256 * 1024**2
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(size)  # sparse: instant to make, real bytes to copy
    for attempt in range(_ATTEMPTS):
        out = tmp_path / f"out{attempt}"
        out.mkdir()
        target = out / "big.bin"

        def copying(o: Path = out) -> bool:
            return any(p.name.endswith(".part") for p in o.iterdir())

        status, stdout, stderr = _interrupt_cp([str(big), str(target)], copying)
        left = sorted(p.name for p in out.iterdir())
        if status == 0:
            assert left == ["big.bin"]
            continue
        assert (status, stdout) == (130, "")
        if left:
            assert (left, target.stat().st_size) == (["big.bin"], size)
            assert stderr == f"persist: interrupted after {target} was written complete\n"
            continue
        assert stderr == f"persist: interrupted; {target} was not written and no partial file was left\n"
        return
    pytest.fail(f"none of {_ATTEMPTS} copies was interrupted mid-way")


def test_interrupted_folder_copy_says_what_it_left(tmp_path: Path) -> None:
    """Ctrl-C during `persist cp -r` says how many files were written complete; none is partial."""
    size = 48 * 1024**2
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        with open(src / f"f{i}.bin", "wb") as handle:
            handle.truncate(size)
    config = tmp_path / "one-at-a-time.yaml"
    config.write_text("generic:\n  max_concurrency: 1\n", encoding="utf-8")
    for attempt in range(_ATTEMPTS):
        dst = tmp_path / f"dst{attempt}"

        def two_complete(d: Path = dst) -> bool:
            return d.is_dir() and sum(not p.name.startswith(".") for p in d.iterdir()) >= 2

        status, stdout, stderr = _interrupt_cp(
            ["-r", "--config", str(config), str(src), str(dst)], two_complete
        )
        if status == 0:
            continue
        left = sorted(p.name for p in dst.iterdir())
        assert (status, stdout) == (130, "")
        assert [name for name in left if name.startswith(".")] == []
        assert [(dst / name).stat().st_size for name in left] == [size] * len(left)
        assert stderr == (
            f"persist: interrupted: {len(left)} of 8 files were written complete under {dst}; "
            "no partial file was left\n"
        )
        if len(left) < 8:
            return
    pytest.fail(f"none of {_ATTEMPTS} copies was interrupted mid-way")


FLYTE_EXAMPLES: dict[str, Any] = {
    "argnames": ("name", "expected"),
    "argvalues": [
        pytest.param(
            "flyte-single-binary.yaml",
            [
                "  endpoint: http://localhost:30002  # {f}: storage.stow.config.endpoint",
                "  access_key_id: minio  # {f}: storage.stow.config.access_key_id",
                "  addressing_style: path  # {f}: storage.stow.config.endpoint",
                "  region: us-east-1  # {f}: storage.stow.config.region",
                "# deployment bucket: s3://my-s3-bucket  # {f}: storage.container",
            ],
            id="single-binary",
        ),
        pytest.param(
            "flyte-gcs-stow.yaml",
            [
                "  project: my-gcp-project  # {f}: storage.stow.config.project_id",
                "# deployment bucket: gs://my-flyte-bucket  # {f}: storage.container",
            ],
            id="gcs",
        ),
        pytest.param(
            "flyte-azure-stow.yaml",
            [
                "  account_name: myflytestorage  # {f}: storage.stow.config.account",
                "# deployment bucket: abfs://flyte-data  # {f}: storage.container",
            ],
            id="azure",
        ),
        pytest.param(
            "flyte-s3-iam.yaml",
            [
                "  region: us-east-2  # {f}: storage.config.region",
                "# deployment bucket: s3://my-flyte-bucket  # {f}: storage.container",
            ],
            id="iam",
        ),
    ],
}
"""Each Flyte example and the lines `persist show` gives for what it sets (the rest are defaults)."""


class TestFlyteFiles:
    @pytest.mark.parametrize(**FLYTE_EXAMPLES)
    def test_show_gives_the_effective_values(self, runner: CliRunner, name: str, expected: list[str]) -> None:
        """persist show reads each Flyte layout: every non-default value, its key, and the bucket."""
        path = str(ROOT / "config-examples" / name)
        result = invoke(runner, "show", "--config", path)
        assert result.exit_code == 0, result.output
        set_lines = [line for line in result.stdout.splitlines() if not line.endswith("# default")]
        set_lines = [line for line in set_lines if line.startswith(" ") or line.startswith("#")]
        assert set_lines == [line.format(f=path) for line in expected]

    def test_iam_example_sets_no_credentials(self, runner: CliRunner) -> None:
        """auth_type: iam leaves the keys to botocore's provider chain."""
        result = invoke(runner, "show", "--config", str(ROOT / "config-examples" / "flyte-s3-iam.yaml"))
        assert "  access_key_id: null  # default" in result.stdout.splitlines()

    def test_single_binary_is_ok_but_strict_names_v2_signing(self, runner: CliRunner) -> None:
        """The single-binary file validates with a warning; --strict fails on v2_signing alone."""
        path = str(ROOT / "config-examples" / "flyte-single-binary.yaml")
        lenient = invoke(runner, "validate", path)
        assert lenient.exit_code == 0
        assert lenient.stdout == f"{path}: OK\n"
        strict = invoke(runner, "validate", "--strict", path)
        assert strict.exit_code == 1
        assert strict.stdout.splitlines() == [
            f"{path}: storage.stow.config.v2_signing: true has no persist equivalent: persist signs "
            "requests with Signature Version 4, which the store must accept"
        ]

    def test_flytekit_connection_file_is_not_called_legacy(self, runner: CliRunner, tmp_path: Path) -> None:
        """flytectl's storage.connection files are current: OK under --strict, no 'legacy' note."""
        path = write(tmp_path, "f.yaml", LEGACY)
        result = invoke(runner, "validate", "--strict", path)
        assert (result.exit_code, result.stdout, result.stderr) == (0, f"{path}: OK\n", "")

    def test_show_names_ignored_empty_variables(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty FLYTE_AWS_ENDPOINT (as Helm renders it) is ignored, and show says so."""
        monkeypatch.setenv("FLYTE_AWS_ENDPOINT", "")
        monkeypatch.setenv("FLYTE_AWS_RETRIES", "")
        result = invoke(runner, "show")
        assert result.exit_code == 0, result.output
        assert "  endpoint: null  # default" in result.stdout.splitlines()
        assert result.stdout.splitlines()[-2:] == [
            "# ignored: FLYTE_AWS_ENDPOINT (empty)",
            "# ignored: FLYTE_AWS_RETRIES (empty)",
        ]
        as_json = json.loads(invoke(runner, "show", "--format", "json").stdout)
        assert as_json["ignored"] == {"FLYTE_AWS_ENDPOINT": "empty", "FLYTE_AWS_RETRIES": "empty"}

    def test_show_warns_about_a_file_without_storage_settings(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """show on a Flyte file with nothing to read warns instead of printing bare defaults."""
        path = write(tmp_path, "f.yaml", NO_STORAGE)
        result = invoke(runner, "show", "--config", path)
        assert result.exit_code == 0
        assert result.stderr == f"warning: {path}: {NO_STORAGE_NOTE}\n"

    def test_probe_without_uri_needs_a_bucket(self, runner: CliRunner, tmp_path: Path) -> None:
        """--probe without URI on a file naming no bucket says what to do; exit 1."""
        path = write(tmp_path, "good.yaml", GOOD)
        result = invoke(runner, "validate", path, "--probe")
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [
            f"{path}: OK",
            f"{path}: probe: no URI given and the file names no bucket (storage.container); use --probe URI",
        ]


def test_interrupt_note_counts_files_before_a_streamed_listing_ended() -> None:
    """An interrupt before a long folder listing ended (no totals yet) still counts the complete files."""
    from persist.cli import _FileCount, _interrupt_note

    count = _FileCount(lambda *args, **kwargs: None)
    count(3, 300)
    note = _interrupt_note(count, "/data/v1", upload=False, folder=True)
    assert note == "interrupted: 3 files were written complete under /data/v1; no partial file was left"
    count(0, 0, total_files=40, total_bytes=4000)
    note = _interrupt_note(count, "/data/v1", upload=False, folder=True)
    assert note == "interrupted: 3 of 40 files were written complete under /data/v1; no partial file was left"
