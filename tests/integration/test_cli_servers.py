"""The ``persist`` command against real servers: `validate --probe`, `cp` and `ls`.

Plain moto accepts any credentials, so the credential tests run a second moto server that
enforces authentication: an IAM user and access key are created through its IAM API while it is
still open, then moto's ``/moto-api/reset-auth`` switches checking on (every later request must
be signed with a key moto knows, and is checked against the user's policy).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.integration.servers import (
    GCS_PROJECT,
    S3_ACCESS_KEY,
    S3_REGION,
    S3_SECRET_KEY,
    AzuriteInfo,
    find_free_port,
    moto_client,
    moto_server,
)
from tests.test_cli import (
    PROBE_NAME,
    assert_bar_drawn_once,
    assert_probe,
    assert_probe_passed,
    failed_write,
    invoke,
    make_tree,
    probe_step,
    run_in_terminal,
    tree,
)

ConfigureS3 = Callable[[str, str, str], str]
"""``configure_s3(endpoint, access_key_id, secret)``: the path of a config file using that key."""

pytestmark = pytest.mark.usefixtures("fresh_filesystems")


def s3_yaml(tmp_path: Path, endpoint: str, access_key_id: str, name: str = "s3.yaml") -> str:
    """A config file for an S3 endpoint; the secret comes from PERSIST_S3__SECRET_ACCESS_KEY."""
    path = tmp_path / name
    path.write_text(
        "s3:\n"
        f"  endpoint: {endpoint}\n"
        "  addressing_style: path\n"
        f"  region: {S3_REGION}\n"
        f"  access_key_id: {access_key_id}\n"
        "  retries: 1\n"
        "  backoff: 0.05\n"
        "generic:\n"
        "  attach_execution_metadata: false\n",
        encoding="utf-8",
    )
    return str(path)


def keys(client: Any, bucket: str) -> dict[str, int]:
    """Every object key in ``bucket`` with its size."""
    listing = client.list_objects_v2(Bucket=bucket)
    return {obj["Key"]: obj["Size"] for obj in listing.get("Contents", [])}


@pytest.fixture
def configure_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigureS3:
    """Put a secret in PERSIST_S3__SECRET_ACCESS_KEY and write a config (``s3_yaml``) to go with it."""

    def configure(endpoint: str, access_key_id: str, secret: str) -> str:
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", secret)
        return s3_yaml(tmp_path, endpoint, access_key_id)

    return configure


def probe(runner: CliRunner, config: str, uri: str) -> Result:
    """Run ``persist validate --env CONFIG --probe URI``."""
    return invoke(runner, "validate", "--env", config, "--probe", uri)


# -- a moto server that checks credentials ----------------------------------------------------


@dataclass(frozen=True)
class AuthMoto:
    """A moto server enforcing IAM authentication, with one bucket and two users' keys."""

    endpoint: str
    bucket: str
    key_id: str
    secret: str
    no_list_key_id: str
    no_list_secret: str

    def keys(self, bucket: str) -> dict[str, int]:
        """Every object key in ``bucket`` with its size, read with the key that may do anything."""
        with moto_client(self.endpoint, self.key_id, self.secret) as client:
            return keys(client, bucket)


def _allow(actions: list[str], deny: list[str] | None = None) -> str:
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    if deny:
        statements.append({"Effect": "Deny", "Action": deny, "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _create_user(iam: Any, name: str, policy: str) -> tuple[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="persist-test", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def auth_moto() -> Iterator[AuthMoto]:
    """A second moto server (the session's stays open) that refuses unknown or wrong keys."""

    with moto_server() as endpoint:
        with moto_client(endpoint, service="iam") as iam:
            key_id, secret = _create_user(iam, "prober", _allow(["*"]))
            no_list = _create_user(iam, "no-list", _allow(["s3:*"], deny=["s3:ListBucket"]))
        bucket = f"persist-auth-{uuid.uuid4().hex[:12]}"
        with moto_client(endpoint) as admin:
            admin.create_bucket(Bucket=bucket)
        # From here on every request must be signed with a key moto issued.
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
        yield AuthMoto(endpoint, bucket, key_id, secret, *no_list)


@pytest.fixture
def auth_bucket(auth_moto: AuthMoto) -> Iterator[str]:
    """The auth server's bucket, emptied after each test."""
    yield auth_moto.bucket
    with moto_client(auth_moto.endpoint, auth_moto.key_id, auth_moto.secret) as client:
        for key in keys(client, auth_moto.bucket):
            client.delete_object(Bucket=auth_moto.bucket, Key=key)


@pytest.fixture
def auth_uri(auth_bucket: str) -> str:
    """Where the probes against the auth server write."""
    return f"s3://{auth_bucket}/probes"


# -- validate --probe ----------------------------------------------------------------------------


class TestProbeS3:
    def test_probe_passes_and_leaves_nothing(
        self, runner: CliRunner, configure_s3: ConfigureS3, s3_endpoint: str, s3_bucket: str
    ) -> None:
        """write/read/list/delete all pass against moto, and the bucket is empty afterwards."""
        config = configure_s3(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY)
        uri = f"s3://{s3_bucket}/prefix"
        assert_probe_passed(probe(runner, config, uri), config, uri, entries="1")
        with moto_client(s3_endpoint) as client:
            assert keys(client, s3_bucket) == {}

    def test_right_key_passes_on_checking_server(
        self, runner: CliRunner, configure_s3: ConfigureS3, auth_moto: AuthMoto, auth_uri: str
    ) -> None:
        """With the key moto issued, the probe passes on the server that checks signatures."""
        config = configure_s3(auth_moto.endpoint, auth_moto.key_id, auth_moto.secret)
        assert_probe_passed(probe(runner, config, auth_uri), config, auth_uri)
        assert auth_moto.keys(auth_moto.bucket) == {}

    def test_wrong_secret_fails_clearly(
        self, runner: CliRunner, configure_s3: ConfigureS3, auth_moto: AuthMoto, auth_uri: str
    ) -> None:
        """A wrong secret: the write step FAILED with SignatureDoesNotMatch, exit 1, secret hidden."""
        wrong = f"wrong-secret-{uuid.uuid4().hex}"
        config = configure_s3(auth_moto.endpoint, auth_moto.key_id, wrong)
        result = probe(runner, config, auth_uri)
        reason = "the secret key does not match the access key id (SignatureDoesNotMatch)"
        assert_probe(result, config, auth_uri, failed_write(re.escape(reason)), passed=False)
        assert wrong not in result.output
        assert auth_moto.secret not in result.output
        assert auth_moto.keys(auth_moto.bucket) == {}

    def test_unknown_key_fails_clearly(
        self, runner: CliRunner, configure_s3: ConfigureS3, auth_moto: AuthMoto, auth_uri: str
    ) -> None:
        """An access key id the server does not know is named as such."""
        config = configure_s3(auth_moto.endpoint, "AKIDNOTKNOWNHERE0000", auth_moto.secret)
        result = probe(runner, config, auth_uri)
        reason = "the server does not know this access key id (InvalidAccessKeyId)"
        assert_probe(result, config, auth_uri, failed_write(re.escape(reason)), passed=False)
        assert auth_moto.secret not in result.output

    def test_failed_step_still_cleans_up(
        self, runner: CliRunner, configure_s3: ConfigureS3, auth_moto: AuthMoto, auth_uri: str
    ) -> None:
        """When listing is denied after the write, the probe object is still deleted."""
        config = configure_s3(auth_moto.endpoint, auth_moto.no_list_key_id, auth_moto.no_list_secret)
        denied = re.escape("the credentials are not allowed to do this here (AccessDenied)")
        steps = [
            probe_step("write", re.escape(auth_uri) + "/" + PROBE_NAME),
            probe_step("read", "42 bytes match"),
            probe_step("list", denied, ok=False),
            probe_step("cleanup", "removed"),
        ]
        assert_probe(probe(runner, config, auth_uri), config, auth_uri, steps, passed=False)
        assert auth_moto.keys(auth_moto.bucket) == {}

    def test_unreachable_endpoint_fails_fast(self, runner: CliRunner, configure_s3: ConfigureS3) -> None:
        """Nothing listening: one FAILED line naming the connection, within seconds; exit 1."""
        endpoint = f"http://127.0.0.1:{find_free_port()}"
        config = configure_s3(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY)
        uri = "s3://nowhere-bucket/probes"
        started = time.monotonic()
        result = probe(runner, config, uri)
        elapsed = time.monotonic() - started
        assert elapsed < 20, f"the probe took {elapsed:.1f} s"
        reason = re.escape("cannot connect to the endpoint; is the URL right and the server up? (")
        reason += ".*" + re.escape(endpoint) + r".*\)"
        assert_probe(result, config, uri, failed_write(reason), passed=False)
        assert S3_SECRET_KEY not in result.stdout.splitlines()[2]


class TestProbeFlyteBucket:
    def flyte_file(self, tmp_path: Path, endpoint: str, bucket: str) -> str:
        """A Flyte single-binary style file: stow s3 config, the bucket in storage.container."""
        host = endpoint.removeprefix("http://")
        path = tmp_path / "flyte.yaml"
        path.write_text(
            "admin:\n  endpoint: localhost:30080\n  insecure: true\n"
            "storage:\n  type: stow\n  stow:\n    kind: s3\n    config:\n"
            f"      region: {S3_REGION}\n      disable_ssl: true\n"
            # A bare host: Flyte's client (and persist) make it http:// because of disable_ssl.
            f"      endpoint: {host}\n      auth_type: accesskey\n"
            f"      access_key_id: {S3_ACCESS_KEY}\n"
            f"  container: {bucket}\n",
            encoding="utf-8",
        )
        return str(path)

    @pytest.mark.parametrize("order", ["probe-last", "probe-first"])
    def test_probe_without_uri_probes_the_container(
        self,
        runner: CliRunner,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        s3_endpoint: str,
        s3_bucket: str,
        order: str,
    ) -> None:
        """`validate --probe` with no URI probes s3://<storage.container> and leaves it empty."""
        monkeypatch.setenv("FLYTE_AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        config = self.flyte_file(tmp_path, s3_endpoint, s3_bucket)
        # --env: the secret comes from FLYTE_AWS_SECRET_ACCESS_KEY, as in a Flyte pod.
        args = [config, "--env", "--probe"] if order == "probe-last" else ["--env", "--probe", config]
        result = invoke(runner, "validate", *args)
        assert_probe_passed(result, config, f"s3://{s3_bucket}", entries=r"\d+")
        with moto_client(s3_endpoint) as client:
            assert keys(client, s3_bucket) == {}


class TestProbeAzure:
    def test_probe_azurite(
        self, runner: CliRunner, tmp_path: Path, azurite: AzuriteInfo, azure_container: str
    ) -> None:
        """account_name/account_key/account_host against Azurite: every step passes, nothing is left."""
        from azure.storage.blob import BlobServiceClient

        config = tmp_path / "azure.yaml"
        config.write_text(
            "azure:\n"
            f"  account_name: {azurite.account_name}\n"
            f"  account_key: {azurite.account_key}\n"
            f"  account_host: {azurite.blob_endpoint}\n",
            encoding="utf-8",
        )
        uri = f"abfs://{azure_container}/probes"
        result = invoke(runner, "validate", str(config), "--probe", uri)
        assert_probe_passed(result, str(config), uri)
        assert azurite.account_key not in result.output
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            assert list(service.get_container_client(azure_container).list_blobs()) == []


# -- cp / ls -------------------------------------------------------------------------------------


class TestCpLsS3:
    @pytest.fixture
    def config(self, configure_s3: ConfigureS3, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
        """PERSIST_CONFIG names the moto config; the secret comes from the environment."""
        path = configure_s3(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY)
        monkeypatch.setenv("PERSIST_CONFIG", path)
        return path

    def test_folder_round_trip(
        self, runner: CliRunner, tmp_path: Path, config: str, s3_endpoint: str, s3_bucket: str
    ) -> None:
        """cp -r uploads a folder and downloads it back, byte for byte, with a summary each way."""
        src = make_tree(tmp_path / "src")
        uri = f"s3://{s3_bucket}/data"
        up = invoke(runner, "cp", "-r", str(src), uri)
        assert up.exit_code == 0, up.output
        assert up.stdout == ""
        assert up.stderr.startswith(f"copied 2 files (13 B) to {uri} in ")
        with moto_client(s3_endpoint) as client:
            assert keys(client, s3_bucket) == {"data/a.txt": 6, "data/sub/b.txt": 7}
        back = tmp_path / "back"
        down = invoke(runner, "cp", "-r", "--json", uri, str(back))
        assert down.exit_code == 0, down.output
        summary = json.loads(down.stdout)
        assert (summary["files"], summary["bytes"]) == (2, 13)
        assert down.stderr == ""
        assert tree(back) == tree(src)

    def test_file_round_trip(
        self, runner: CliRunner, tmp_path: Path, config: str, s3_endpoint: str, s3_bucket: str
    ) -> None:
        """cp uploads one file and downloads it back; --quiet prints nothing."""
        src = make_tree(tmp_path / "src") / "a.txt"
        uri = f"s3://{s3_bucket}/one/a.txt"
        up = invoke(runner, "cp", "--config", config, str(src), uri)
        assert up.exit_code == 0, up.output
        assert up.stderr.startswith(f"copied 1 file (6 B) to {uri} in ")
        with moto_client(s3_endpoint) as client:
            assert keys(client, s3_bucket) == {"one/a.txt": 6}
        out = tmp_path / "out.txt"
        down = invoke(runner, "cp", "-q", uri, str(out))
        assert down.exit_code == 0, down.output
        assert down.output == ""
        assert out.read_bytes() == b"hello\n"

    def test_ls_long(self, runner: CliRunner, tmp_path: Path, config: str, s3_bucket: str) -> None:
        """ls -l lists the uploaded objects with their sizes, and the folder."""
        src = make_tree(tmp_path / "src")
        uri = f"s3://{s3_bucket}/data"
        assert invoke(runner, "cp", "-r", "-q", str(src), uri).exit_code == 0
        result = invoke(runner, "ls", "-l", uri)
        assert result.exit_code == 0, result.output
        first, second = result.stdout.splitlines()
        assert re.fullmatch(r"- +6  .+  " + re.escape(f"{uri}/a.txt"), first), first
        assert re.fullmatch(r"d +0  .+  " + re.escape(f"{uri}/sub"), second), second
        listing = invoke(runner, "ls", "--json", f"{uri}/sub")
        assert listing.exit_code == 0
        rows = json.loads(listing.stdout)
        assert [(r["name"], r["type"], r["size"]) for r in rows] == [(f"{uri}/sub/b.txt", "file", 7)]

    def test_download_missing(self, runner: CliRunner, tmp_path: Path, config: str, s3_bucket: str) -> None:
        """A missing remote source is one error line; the destination is not created."""
        out = tmp_path / "out.txt"
        result = invoke(runner, "cp", f"s3://{s3_bucket}/missing.txt", str(out))
        assert result.exit_code == 1
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("persist: error: ")
        assert "does not exist" in result.stderr
        assert not out.exists()

    def test_wrong_secret(
        self,
        runner: CliRunner,
        tmp_path: Path,
        configure_s3: ConfigureS3,
        auth_moto: AuthMoto,
        auth_bucket: str,
    ) -> None:
        """cp and ls with a wrong secret: one error line with the backend's reason, secret hidden."""
        wrong = f"wrong-secret-{uuid.uuid4().hex}"
        config = configure_s3(auth_moto.endpoint, auth_moto.key_id, wrong)
        src = make_tree(tmp_path / "src") / "a.txt"
        uri = f"s3://{auth_bucket}/x/a.txt"
        for args in (["cp", "--config", config, str(src), uri], ["ls", "--config", config, uri]):
            result = invoke(runner, *args)
            assert result.exit_code == 1, result.output
            assert result.stdout == ""
            assert len(result.stderr.splitlines()) == 1, result.stderr
            assert result.stderr.startswith("persist: error: ")
            assert "SignatureDoesNotMatch" in result.stderr
            assert wrong not in result.output


# -- cp / ls on every backend --------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """A configured place to copy to: a config file (PERSIST_CONFIG) and an empty root URI."""

    config: str
    root: str


BACKENDS = [
    pytest.param(("s3", "obstore", True), id="s3-obstore"),
    pytest.param(("s3", "fsspec", True), id="s3-fsspec"),
    pytest.param(("azure", "obstore", True), id="azure-obstore"),
    pytest.param(("azure", "fsspec", True), id="azure-fsspec"),
    pytest.param(("azure", "fsspec", False), id="azure-fsspec-no-metadata"),
    pytest.param(("gcs", "fsspec", True), id="gcs"),
]
"""Backend, engine, and whether execution metadata is attached (adlfs uploads differently)."""

LARGE = 6 * 1024 * 1024 + 17
"""Larger than a part (5 MiB), so S3, Azure and GCS uploads go up in several pieces."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """Each backend and engine against its real server, configured through PERSIST_CONFIG."""
    kind, engine, metadata = request.param
    generic = (
        f"generic:\n  engine: {engine}\n  attach_execution_metadata: {str(metadata).lower()}\n"
        "  write_chunk_size_bytes: 5242880\n"
    )
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("PERSIST_S3__SECRET_ACCESS_KEY", S3_SECRET_KEY)
        text = Path(s3_yaml(tmp_path, endpoint, S3_ACCESS_KEY)).read_text(encoding="utf-8")
        text = text.split("generic:")[0] + generic
        root = f"s3://{bucket}"
    elif kind == "azure":
        azurite: AzuriteInfo = request.getfixturevalue("azurite")
        container = request.getfixturevalue("azure_container")
        monkeypatch.setenv("PERSIST_AZURE__ACCOUNT_KEY", azurite.account_key)
        text = (
            "azure:\n"
            f"  account_name: {azurite.account_name}\n"
            f"  account_host: {azurite.blob_endpoint}\n" + generic
        )
        root = f"abfs://{container}"
    else:
        endpoint = request.getfixturevalue("gcs_endpoint")
        bucket = request.getfixturevalue("gcs_bucket")
        text = f"gcs:\n  endpoint: {endpoint}\n  token: anon\n  project: {GCS_PROJECT}\n" + generic
        root = f"gs://{bucket}"
    config = tmp_path / f"{kind}.yaml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PERSIST_CONFIG", str(config))
    return Backend(str(config), root)


def big_tree(root: Path) -> Path:
    """make_tree plus big.bin (LARGE bytes): 3 files, LARGE + 13 bytes."""
    make_tree(root)
    (root / "big.bin").write_bytes(bytes(range(256)) * (LARGE // 256) + b"x" * (LARGE % 256))
    return root


def json_summary(result: Result) -> dict[str, Any]:
    """The one JSON line of a successful ``cp --json``."""
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    summary: dict[str, Any] = json.loads(lines[0])
    return summary


class TestCpBackends:
    def test_json_counts_every_byte_once(self, runner: CliRunner, tmp_path: Path, backend: Backend) -> None:
        """cp --json reports the bytes and files actually moved, up and down, file and folder.

        gcsfs and adlfs report progress as a running count (absolute_update): counted as
        increments, not 0 B (GCS) nor twice.
        """
        src = big_tree(tmp_path / "src")
        uri = f"{backend.root}/data"
        up = json_summary(invoke(runner, "cp", "-r", "--json", str(src), uri))
        assert (up["files"], up["bytes"]) == (3, LARGE + 13)
        one = json_summary(invoke(runner, "cp", "--json", str(src / "big.bin"), f"{backend.root}/one.bin"))
        assert (one["files"], one["bytes"]) == (1, LARGE)
        back = tmp_path / "back"
        down = json_summary(invoke(runner, "cp", "-r", "--json", uri, str(back)))
        assert (down["files"], down["bytes"]) == (3, LARGE + 13)
        assert tree(back) == tree(src)
        single = json_summary(invoke(runner, "cp", "--json", f"{backend.root}/one.bin", str(tmp_path / "o")))
        assert (single["files"], single["bytes"]) == (1, LARGE)
        assert (tmp_path / "o").read_bytes() == (src / "big.bin").read_bytes()

    def test_folder_download_needs_recursive(
        self, runner: CliRunner, tmp_path: Path, backend: Backend
    ) -> None:
        """A remote folder without -r is the same usage error as a local one; nothing is written."""
        uri = f"{backend.root}/data"
        assert invoke(runner, "cp", "-r", "-q", str(make_tree(tmp_path / "src")), uri).exit_code == 0
        out = tmp_path / "out"
        result = invoke(runner, "cp", uri, str(out))
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines()[-1] == f"Error: {uri} is a folder; use -r to copy it"
        assert not out.exists()

    def test_missing_file_still_does_not_exist(
        self, runner: CliRunner, tmp_path: Path, backend: Backend
    ) -> None:
        """A key that is neither a file nor a folder keeps its "does not exist" error (exit 1)."""
        uri = f"{backend.root}/missing.txt"
        result = invoke(runner, "cp", uri, str(tmp_path / "out"))
        assert result.exit_code == 1, result.output
        assert result.stderr == f"persist: error: {uri} does not exist\n"


ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


class TestLsBackends:
    def test_listing_formats(self, runner: CliRunner, tmp_path: Path, backend: Backend) -> None:
        """Plain ls marks folders with /; -l and --json give ISO 8601 UTC times on every backend."""
        uri = f"{backend.root}/data"
        before = time.time()
        assert invoke(runner, "cp", "-r", "-q", str(make_tree(tmp_path / "src")), uri).exit_code == 0
        plain = invoke(runner, "ls", uri)
        assert plain.exit_code == 0, plain.output
        assert plain.stdout.splitlines() == [f"{uri}/a.txt", f"{uri}/sub/"]
        long = invoke(runner, "ls", "-l", uri)
        assert long.exit_code == 0, long.output
        first, second = long.stdout.splitlines()
        assert re.fullmatch(r"- +6  " + ISO_UTC + "  " + re.escape(f"{uri}/a.txt"), first), first
        assert re.fullmatch(r"d +0  \S+ +" + re.escape(f"{uri}/sub"), second), second
        listing = invoke(runner, "ls", "--json", f"{uri}/sub")
        assert listing.exit_code == 0, listing.output
        (row,) = json.loads(listing.stdout)
        assert (row["name"], row["type"], row["size"]) == (f"{uri}/sub/b.txt", "file", 7)
        assert re.fullmatch(ISO_UTC, row["modified"]), row
        written = datetime.strptime(row["modified"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        # The server's clock is this machine's: the time is the upload's, read as UTC.
        assert before - 5 <= written.timestamp() <= time.time() + 5

    def test_json_error(self, runner: CliRunner, backend: Backend) -> None:
        """ls --json of a missing path: one JSON object on stderr, exit 1, nothing on stdout."""
        uri = f"{backend.root}/nothing/here"
        result = invoke(runner, "ls", "--json", uri)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        error = json.loads(result.stderr)
        assert error["exit_code"] == 1
        assert uri in error["error"]


def test_terminal_bar_for_remote_download(runner: CliRunner, tmp_path: Path, backend: Backend) -> None:
    """On a terminal, a single-file download's bar knows its total and ends at every byte, drawn once."""
    src = big_tree(tmp_path / "src") / "big.bin"
    uri = f"{backend.root}/big.bin"
    assert invoke(runner, "cp", "-q", str(src), uri).exit_code == 0
    status, shown = run_in_terminal("cp", uri, str(tmp_path / "out.bin"))
    assert status == 0, shown
    summary = assert_bar_drawn_once(shown, "1/1", "6.0 MiB")
    assert summary.startswith(f"copied 1 file (6.0 MiB) to {tmp_path / 'out.bin'} in ")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
