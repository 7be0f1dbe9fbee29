"""Installed backend versions and the known-bad list: the data file, the matcher, the CLI output.

Known-bad releases are made "installed" the way pip would: a ``NAME-VERSION.dist-info``
directory with a METADATA file, first on ``sys.path`` (or PYTHONPATH for a real process), so
``importlib.metadata`` itself answers with the fake version. Nothing else is replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import persist
from persist._versions import (
    REPORTED_PACKAGES,
    KnownBadVersion,
    backends_for,
    find_known_bad,
    installed_version,
    load_known_bad,
    version_report,
)
from persist.cli import cli
from persist.config import DataConfig, GenericPersistenceConfig

ROOT = Path(__file__).resolve().parent.parent

S3_CONFIG = "s3:\n  endpoint: http://127.0.0.1:9000\n  addressing_style: path\n"
GCS_CONFIG = "gcs:\n  project: demo\n"


def fake_lookup(versions: dict[str, str]):
    """A version lookup that knows only ``versions`` (everything else is not installed)."""
    return versions.get


def fake_distribution(root: Path, name: str, version: str) -> Path:
    """Write an installed-distribution record for NAME VERSION under ``root``; return ``root``."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


@pytest.fixture
def bad_s3fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """s3fs 2024.10.0 (known to truncate multipart uploads) appears installed in this process."""
    root = fake_distribution(tmp_path / "site", "s3fs", "2024.10.0")
    monkeypatch.syspath_prepend(str(root))
    assert metadata.version("s3fs") == "2024.10.0"
    return "2024.10.0"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="persist", catch_exceptions=False)


class TestDataFile:
    def test_packaged_file_parses_and_every_entry_has_a_link(self) -> None:
        """Every entry names a package, a specifier, what breaks and an https link to the report."""
        entries = load_known_bad()
        assert entries
        for entry in entries:
            assert entry.link.startswith("https://github.com/"), entry
            assert entry.breaks
            assert entry.package in REPORTED_PACKAGES

    def test_fsspec_2024_10_0_is_listed(self) -> None:
        """fsspec 2024.10.0's truncated S3 writes (flyte#5936) are on the list."""
        (entry,) = [e for e in load_known_bad() if e.package == "fsspec"]
        assert entry.matches("2024.10.0")
        assert not entry.matches("2024.9.0")
        assert entry.link == "https://github.com/flyteorg/flyte/issues/5936"

    def test_file_is_package_data(self) -> None:
        """pyproject.toml ships the data file with the package."""
        assert '"known_bad_versions.json"' in (ROOT / "pyproject.toml").read_text()

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param("{", "bad.json: not valid JSON", id="json"),
            pytest.param('{"entries": {}}', "bad.json: entries: expected a list", id="entries"),
            pytest.param(
                '{"entries": [{"package": "s3fs", "versions": "==1", "breaks": "x"}]}',
                "bad.json: entries[0].link: required, a non-empty string",
                id="missing-link",
            ),
            pytest.param(
                '{"entries": [{"package": "s3fs", "versions": "=>1", "breaks": "x", "link": "https://x"}]}',
                "bad.json: entries[0].versions: not a PEP 440 specifier: '=>1'",
                id="bad-specifier",
            ),
            pytest.param(
                '{"entries": [{"package": "s3fs", "versions": "==1", "breaks": "x", "link": "see #915"}]}',
                "bad.json: entries[0].link: expected an https:// URL",
                id="not-a-url",
            ),
            pytest.param(
                '{"entries": [{"package": "s3fs", "version": "==1", "breaks": "x", "link": "https://x"}]}',
                "bad.json: entries[0]: unknown field 'version'",
                id="typo",
            ),
        ],
    )
    def test_bad_file_names_entry_and_field(self, text: str, message: str) -> None:
        """A malformed data file is an error naming the file, the entry and the field."""
        with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace("(", r"\(")):
            load_known_bad(text, source="bad.json")


ENTRY = KnownBadVersion(
    package="s3fs", versions=">=2024.9,<2024.12", breaks="truncates", link="https://x/1", protocols=("s3",)
)


class TestMatcher:
    @pytest.mark.parametrize(
        ("installed", "flagged"),
        [
            ("2024.10.0", True),
            ("2024.9.0", True),
            ("2024.12.0", False),
            ("2024.6.1", False),
            ("2024.10.0rc1", True),
            ("not-a-version", False),
        ],
    )
    def test_installed_version_against_specifier(self, installed: str, flagged: bool) -> None:
        """An installed version inside the specifier is a finding; outside or unparsable is not."""
        findings = find_known_bad(lookup=fake_lookup({"s3fs": installed}), entries=[ENTRY])
        assert [(f.entry, f.installed) for f in findings] == ([(ENTRY, installed)] if flagged else [])

    def test_not_installed_is_no_finding(self) -> None:
        """A package that is not installed cannot be bad."""
        assert find_known_bad(lookup=fake_lookup({}), entries=[ENTRY]) == []

    def test_other_protocols_are_not_warned(self) -> None:
        """An S3-only defect is not reported for a config that uses only GCS."""
        lookup = fake_lookup({"s3fs": "2024.10.0"})
        assert find_known_bad(protocols=["gs"], lookup=lookup, entries=[ENTRY]) == []
        assert len(find_known_bad(protocols=["gs", "s3"], lookup=lookup, entries=[ENTRY])) == 1

    def test_packages_filter(self) -> None:
        """Only the packages asked about are checked (names compared as pip normalises them)."""
        lookup = fake_lookup({"s3fs": "2024.10.0"})
        assert find_known_bad(packages=["gcsfs"], lookup=lookup, entries=[ENTRY]) == []
        assert len(find_known_bad(packages=["S3FS"], lookup=lookup, entries=[ENTRY])) == 1

    def test_packaged_list_flags_the_2024_10_0_pair(self) -> None:
        """With the packaged list, fsspec and s3fs 2024.10.0 are both flagged for S3."""
        lookup = fake_lookup({"fsspec": "2024.10.0", "s3fs": "2024.10.0", "gcsfs": "2024.10.0"})
        findings = find_known_bad(protocols=["s3"], lookup=lookup)
        assert [(f.entry.package, f.installed) for f in findings] == [
            ("fsspec", "2024.10.0"),
            ("s3fs", "2024.10.0"),
        ]

    def test_finding_text(self) -> None:
        """A finding names the package, the installed version, the defect, the link and the way out."""
        (finding,) = find_known_bad(lookup=fake_lookup({"s3fs": "2024.10.0"}), entries=[ENTRY])
        assert str(finding) == (
            "s3fs 2024.10.0 is known to corrupt or lose data: truncates (https://x/1); "
            "install a release outside s3fs>=2024.9,<2024.12"
        )


class TestReport:
    def test_version_report_marks_missing_packages(self) -> None:
        """Every reported package appears; one that is not installed is None."""
        report = version_report(lookup=fake_lookup({"fsspec": "2099.1.0"}))
        assert list(report["packages"]) == list(REPORTED_PACKAGES)
        assert report["packages"]["fsspec"] == "2099.1.0"
        assert report["packages"]["s3fs"] is None
        assert report["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")

    @pytest.mark.parametrize(
        ("protocols", "engine", "expected"),
        [
            (["file"], "auto", ("pydantic", "pydantic-settings", "fsspec")),
            (
                ["s3"],
                "fsspec",
                ("pydantic", "pydantic-settings", "fsspec", "s3fs", "aiobotocore", "botocore"),
            ),
            (
                ["s3"],
                "obstore",
                ("pydantic", "pydantic-settings", "obstore", "fsspec", "s3fs", "aiobotocore", "botocore"),
            ),
            (["gs"], "obstore", ("pydantic", "pydantic-settings", "fsspec", "gcsfs")),
            (["abfs"], "fsspec", ("pydantic", "pydantic-settings", "fsspec", "adlfs", "azure-storage-blob")),
            (
                ["gs", "abfs"],
                "fsspec",
                ("pydantic", "pydantic-settings", "fsspec", "gcsfs", "adlfs", "azure-storage-blob"),
            ),
        ],
    )
    def test_backends_for(self, protocols: list[str], engine: str, expected: tuple[str, ...]) -> None:
        """Each protocol names the distributions that serve it under the configured engine."""
        config = DataConfig(generic=GenericPersistenceConfig(engine=engine))
        assert backends_for(protocols, config) == expected


class TestVersionCommand:
    def test_lists_every_backend_with_its_version(self) -> None:
        """`persist version` prints persist's and Python's versions, then one line per package."""
        result = invoke("version")
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        assert lines[0] == f"persist {persist.__version__}"
        assert lines[1].startswith(f"python {sys.version_info.major}.{sys.version_info.minor}.")
        rows = dict(line.split(maxsplit=1) for line in lines[2:])
        assert list(rows) == list(REPORTED_PACKAGES)
        for name, shown in rows.items():
            assert shown == (installed_version(name) or "not installed")

    def test_option_matches_command(self) -> None:
        """`persist --version` prints exactly what `persist version` does."""
        assert invoke("--version").stdout == invoke("version").stdout

    def test_json(self) -> None:
        """`persist version --json` is one JSON object with the same facts."""
        data = json.loads(invoke("version", "--json").stdout)
        assert data["persist"] == persist.__version__
        assert data["packages"]["fsspec"] == installed_version("fsspec")
        assert data["known_bad"] == []

    def test_warns_about_known_bad_release(self, bad_s3fs: str) -> None:
        """An installed known-bad release is shown and named in a warning with its report."""
        result = invoke("version")
        assert result.exit_code == 0
        assert "s3fs                2024.10.0" in result.stdout.splitlines()
        assert result.stderr.startswith(
            "warning: s3fs 2024.10.0 is known to corrupt or lose data: a multipart upload whose last batch"
        )
        assert "(https://github.com/fsspec/s3fs/issues/915)" in result.stderr


class TestValidate:
    def test_known_bad_is_a_warning(self, tmp_path: Path, bad_s3fs: str) -> None:
        """An S3 config with a known-bad s3fs installed is OK, with a warning naming the file."""
        path = tmp_path / "s3.yaml"
        path.write_text(S3_CONFIG)
        result = invoke("validate", str(path))
        assert result.exit_code == 0
        assert result.stdout == f"{path}: OK\n"
        assert result.stderr.startswith(f"warning: {path}: s3fs 2024.10.0 is known to corrupt or lose data")

    def test_known_bad_fails_under_strict(self, tmp_path: Path, bad_s3fs: str) -> None:
        """Under --strict the known-bad release is a problem; exit 1, no OK."""
        path = tmp_path / "s3.yaml"
        path.write_text(S3_CONFIG)
        result = invoke("validate", "--strict", str(path))
        assert result.exit_code == 1
        (line,) = result.stdout.splitlines()
        assert line.startswith(f"{path}: s3fs 2024.10.0 is known to corrupt or lose data")
        assert result.stderr == ""

    def test_other_protocol_is_not_warned(self, tmp_path: Path, bad_s3fs: str) -> None:
        """A GCS-only config does not use s3fs: no warning, --strict passes."""
        path = tmp_path / "gcs.yaml"
        path.write_text(GCS_CONFIG)
        result = invoke("validate", "--strict", str(path))
        assert (result.exit_code, result.stdout, result.stderr) == (0, f"{path}: OK\n", "")

    def test_probe_uri_counts_as_used(self, tmp_path: Path, bad_s3fs: str) -> None:
        """A GCS file probed on s3:// uses s3fs, so --strict fails before any probe is made."""
        path = tmp_path / "gcs.yaml"
        path.write_text(GCS_CONFIG)
        result = invoke("validate", "--strict", str(path), "--probe", "s3://bucket/x")
        assert result.exit_code == 1
        assert result.stdout.startswith(f"{path}: s3fs 2024.10.0 is known to corrupt")

    def test_versions_flag_prints_backends(self, tmp_path: Path) -> None:
        """--versions adds one line per file: the protocols and each backend's version."""
        path = tmp_path / "gcs.yaml"
        path.write_text(GCS_CONFIG)
        result = invoke("validate", "--versions", str(path))
        assert result.exit_code == 0
        names = ("pydantic", "pydantic-settings", "fsspec", "gcsfs")
        versions = ", ".join(f"{name} {installed_version(name)}" for name in names)
        assert result.stdout == f"{path}: OK\n{path}: backends for gs: {versions}\n"


def test_real_process_sees_installed_bad_release(tmp_path: Path) -> None:
    """`python -m persist version` in a real process reads what is installed on its path."""
    root = fake_distribution(tmp_path / "site", "fsspec", "2024.10.0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", "persist", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fsspec              2024.10.0" in proc.stdout.splitlines()
    assert proc.stderr.startswith(
        "warning: fsspec 2024.10.0 is known to corrupt or lose data: S3 uploads come out truncated"
    )
    assert "https://github.com/flyteorg/flyte/issues/5936" in proc.stderr
