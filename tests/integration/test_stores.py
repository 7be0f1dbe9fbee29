"""Several named stores in one config, against real servers: each path reaches its own store."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from persist import DataConfig, DownloadError, FileAccessProvider, UploadError
from persist._fs import clear_filesystem_cache
from tests.integration.faultproxy import FaultProxy
from tests.integration.servers import (
    GCS_PROJECT,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    azurite_server,
    moto_client,
    moto_server,
)
from tests.test_cli import invoke


def _s3(endpoint: str, key: str, secret: str, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "access_key_id": key,
        "secret_access_key": secret,
        "addressing_style": "path",
        "region": "us-east-1",
        "retries": 0,
        "backoff": timedelta(0),
        **extra,
    }


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- two S3 accounts on a moto server that checks signatures ------------------------------------


@dataclass(frozen=True)
class TwoAccounts:
    """A moto server enforcing IAM: two buckets, and a user per bucket allowed only there."""

    endpoint: str
    bucket_a: str
    key_a: tuple[str, str]
    bucket_b: str
    key_b: tuple[str, str]


def _only(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def two_accounts() -> Iterator[TwoAccounts]:
    """Its own moto server (the session's does not check signatures), auth switched on."""
    with moto_server() as endpoint:
        suffix = uuid.uuid4().hex[:10]
        bucket_a, bucket_b = f"team-a-{suffix}", f"team-b-{suffix}"
        keys = []
        with moto_client(endpoint, service="iam") as iam:
            for user, bucket in (("alice", bucket_a), ("bob", bucket_b)):
                iam.create_user(UserName=user)
                iam.put_user_policy(UserName=user, PolicyName="own-bucket", PolicyDocument=_only(bucket))
                made = iam.create_access_key(UserName=user)["AccessKey"]
                keys.append((made["AccessKeyId"], made["SecretAccessKey"]))
        with moto_client(endpoint) as admin:
            admin.create_bucket(Bucket=bucket_a)
            admin.create_bucket(Bucket=bucket_b)
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
        yield TwoAccounts(endpoint, bucket_a, keys[0], bucket_b, keys[1])
    clear_filesystem_cache()


def _two_store_config(acc: TwoAccounts, engine: str, secret_b: str | None = None) -> DataConfig:
    return DataConfig(
        generic={"engine": engine},
        stores={
            "team_a": {"prefixes": ["s3://team-a-"], "s3": _s3(acc.endpoint, *acc.key_a)},
            "team_b": {
                "prefixes": [f"s3://{acc.bucket_b}/"],
                "s3": _s3(acc.endpoint, acc.key_b[0], secret_b or acc.key_b[1]),
            },
        },
    )


@pytest.fixture(params=["fsspec", "obstore"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestTwoS3Accounts:
    def test_each_store_reaches_its_own_bucket(
        self, two_accounts: TwoAccounts, engine: str, tmp_path: Path
    ) -> None:
        """One provider puts to one store's bucket and gets from the other's, each with its own keys."""
        acc = two_accounts
        provider = FileAccessProvider(
            tmp_path / "sb", f"s3://{acc.bucket_a}/raw", _two_store_config(acc, engine)
        )
        src = tmp_path / "x.txt"
        src.write_bytes(b"team a data")
        provider.put_data(str(src), f"s3://{acc.bucket_a}/{engine}/x.txt")
        provider.put_raw_data(
            b"team b data",
            upload_prefix=f"s3://{acc.bucket_b}/{engine}",
            file_name="y.txt",
            skip_raw_data_prefix=True,
        )
        provider.get_data(f"s3://{acc.bucket_a}/{engine}/x.txt", str(tmp_path / "a.out"))
        provider.get_data(f"s3://{acc.bucket_b}/{engine}/y.txt", str(tmp_path / "b.out"))
        assert (tmp_path / "a.out").read_bytes() == b"team a data"
        assert (tmp_path / "b.out").read_bytes() == b"team b data"

    def test_one_stores_keys_are_refused_by_the_other_bucket(
        self, two_accounts: TwoAccounts, engine: str, tmp_path: Path
    ) -> None:
        """The keys really are scoped: team a's keys serving team b's bucket are refused."""
        acc = two_accounts
        config = DataConfig(
            generic={"engine": engine},
            stores={"wrong": {"prefixes": [f"s3://{acc.bucket_b}/"], "s3": _s3(acc.endpoint, *acc.key_a)}},
        )
        provider = FileAccessProvider(tmp_path / "sb", f"s3://{acc.bucket_b}/raw", config)
        with pytest.raises(UploadError, match="store 'wrong'"):
            provider.put_raw_data(
                b"x", upload_prefix=f"s3://{acc.bucket_b}/no", file_name="z", skip_raw_data_prefix=True
            )

    def test_wrong_store_secret_names_the_store_and_no_secret(
        self, two_accounts: TwoAccounts, engine: str, tmp_path: Path
    ) -> None:
        """A store with a wrong secret fails naming that store; neither store's secret is shown."""
        acc = two_accounts
        canary = "Wr0ngSecretCanary" + uuid.uuid4().hex
        provider = FileAccessProvider(
            tmp_path / "sb", f"s3://{acc.bucket_a}/raw", _two_store_config(acc, engine, secret_b=canary)
        )
        with pytest.raises(UploadError) as info:
            provider.put_raw_data(
                b"x", upload_prefix=f"s3://{acc.bucket_b}/w", file_name="z", skip_raw_data_prefix=True
            )
        text = str(info.value)
        assert "store 'team_b'" in text
        for secret in (canary, acc.key_a[1], acc.key_b[1]):
            assert secret not in text
        # The other store is unaffected in the same provider.
        provider.put_raw_data(
            b"ok", upload_prefix=f"s3://{acc.bucket_a}/w", file_name="z", skip_raw_data_prefix=True
        )
        with pytest.raises(DownloadError) as again:
            provider.get_data(f"s3://{acc.bucket_b}/w/z", str(tmp_path / "z"))
        assert "store 'team_b'" in str(again.value)
        assert canary not in str(again.value)


# -- an anonymous store for a public bucket, while the default keys are refused there ----------


@pytest.fixture
def public_bucket(s3_admin_client: Any, s3_bucket: str) -> str:
    """A bucket anyone may list and read, holding two objects under public/."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{s3_bucket}", f"arn:aws:s3:::{s3_bucket}/*"],
            }
        ],
    }
    s3_admin_client.put_bucket_policy(Bucket=s3_bucket, Policy=json.dumps(policy))
    for key, content in {"a.txt": b"alpha", "sub/b.txt": b"beta"}.items():
        s3_admin_client.put_object(Bucket=s3_bucket, Key=f"public/{key}", Body=content)
    return s3_bucket


@pytest.fixture
def deny_signed(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A proxy in front of moto that refuses every signed request (403) and forwards unsigned ones."""
    with FaultProxy(s3_endpoint) as proxy:
        proxy.deny("signed")
        yield proxy
    clear_filesystem_cache()


class TestAnonymousStore:
    def test_anonymous_store_reads_without_ever_signing(
        self, deny_signed: FaultProxy, public_bucket: str, engine: str, tmp_path: Path
    ) -> None:
        """The store sends no credentials at all: no request is refused, the folder arrives whole."""
        config = DataConfig(
            s3=_s3(deny_signed.url, S3_ACCESS_KEY, S3_SECRET_KEY),
            generic={"engine": engine},
            stores={
                "public": {
                    "prefixes": [f"s3://{public_bucket}/"],
                    "anonymous": True,
                    "s3": {"endpoint": deny_signed.url, "addressing_style": "path", "region": "us-east-1"},
                }
            },
        )
        provider = FileAccessProvider(tmp_path / "sb", "s3://elsewhere/raw", config)
        provider.get_data(f"s3://{public_bucket}/public", str(tmp_path / "out"), is_multipart=True)
        assert _tree(tmp_path / "out") == {"a.txt": b"alpha", "sub/b.txt": b"beta"}
        assert deny_signed.denied == 0
        assert deny_signed.anonymous_forwarded >= 3

    def test_default_credentials_are_refused_there(
        self, deny_signed: FaultProxy, public_bucket: str, engine: str, tmp_path: Path
    ) -> None:
        """Without the store, the top-level keys are refused first (then flytekit's fallback)."""
        config = DataConfig(s3=_s3(deny_signed.url, S3_ACCESS_KEY, S3_SECRET_KEY), generic={"engine": engine})
        provider = FileAccessProvider(tmp_path / "sb", "s3://elsewhere/raw", config)
        provider.get_data(f"s3://{public_bucket}/public/a.txt", str(tmp_path / "a.txt"))
        assert deny_signed.denied >= 1

    def test_anonymous_store_never_signs_a_write(
        self, deny_signed: FaultProxy, public_bucket: str, engine: str, tmp_path: Path
    ) -> None:
        """An anonymous store's writes go unsigned too (this moto takes them; real S3 would refuse)."""
        config = DataConfig(
            s3=_s3(deny_signed.url, S3_ACCESS_KEY, S3_SECRET_KEY),
            generic={"engine": engine},
            stores={
                "public": {
                    "prefixes": [f"s3://{public_bucket}/"],
                    "anonymous": True,
                    "s3": {"endpoint": deny_signed.url, "addressing_style": "path", "region": "us-east-1"},
                }
            },
        )
        provider = FileAccessProvider(tmp_path / "sb", "s3://elsewhere/raw", config)
        provider.put_raw_data(
            b"x", upload_prefix=f"s3://{public_bucket}/w", file_name="z", skip_raw_data_prefix=True
        )
        assert deny_signed.denied == 0
        assert deny_signed.anonymous_forwarded >= 1


# -- two Azure accounts in one provider ----------------------------------------------------------

ACCOUNT_1 = "persistacc1"
ACCOUNT_2 = "persistacc2"
KEY_1 = base64.b64encode(b"persist-account-one-key-0123456789").decode()
KEY_2 = base64.b64encode(b"persist-account-two-key-9876543210").decode()


@pytest.fixture(scope="module")
def two_azure_accounts() -> Iterator[str]:
    """An Azurite with two extra accounts (AZURITE_ACCOUNTS); yields its http://host:port."""
    with azurite_server(accounts={ACCOUNT_1: KEY_1, ACCOUNT_2: KEY_2}) as info:
        yield info.blob_endpoint.rsplit("/", 1)[0]
    clear_filesystem_cache()


def _blob_client(host: str, account: str, key: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={host}/{account};"
    )


@pytest.mark.parametrize("azure_engine", ["fsspec", "obstore"])
def test_two_azure_accounts_in_one_provider(
    two_azure_accounts: str, azure_engine: str, tmp_path: Path
) -> None:
    """Each container is reached with its own account's key; each object lands in its account."""
    host = two_azure_accounts
    one, two = f"one-{uuid.uuid4().hex[:8]}", f"two-{uuid.uuid4().hex[:8]}"
    _blob_client(host, ACCOUNT_1, KEY_1).create_container(one)
    _blob_client(host, ACCOUNT_2, KEY_2).create_container(two)
    config = DataConfig(
        generic={"engine": azure_engine},
        stores={
            "first": {
                "prefixes": [f"abfs://{one}/"],
                "azure": {
                    "account_name": ACCOUNT_1,
                    "account_key": KEY_1,
                    "account_host": host,
                    "retries": 0,
                },
            },
            "second": {
                "prefixes": [f"abfs://{two}/"],
                "azure": {
                    "account_name": ACCOUNT_2,
                    "account_key": KEY_2,
                    "account_host": host,
                    "retries": 0,
                },
            },
        },
    )
    provider = FileAccessProvider(tmp_path / "sb", f"abfs://{one}/raw", config)
    provider.put_raw_data(
        b"first", upload_prefix=f"abfs://{one}/d", file_name="f.txt", skip_raw_data_prefix=True
    )
    provider.put_raw_data(
        b"second", upload_prefix=f"abfs://{two}/d", file_name="f.txt", skip_raw_data_prefix=True
    )
    provider.get_data(f"abfs://{two}/d/f.txt", str(tmp_path / "two.txt"))
    assert (tmp_path / "two.txt").read_bytes() == b"second"
    assert (
        _blob_client(host, ACCOUNT_1, KEY_1).get_blob_client(one, "d/f.txt").download_blob().readall()
        == b"first"
    )
    assert (
        _blob_client(host, ACCOUNT_2, KEY_2).get_blob_client(two, "d/f.txt").download_blob().readall()
        == b"second"
    )
    # Account 1's key does not open account 2's container: the stores' keys are what worked.
    wrong = DataConfig(
        generic={"engine": azure_engine},
        stores={
            "mixed": {
                "prefixes": [f"abfs://{two}/"],
                "azure": {
                    "account_name": ACCOUNT_2,
                    "account_key": KEY_1,
                    "account_host": host,
                    "retries": 0,
                },
            }
        },
    )
    with pytest.raises(DownloadError) as info:
        FileAccessProvider(tmp_path / "sb2", f"abfs://{two}/raw", wrong).get_data(
            f"abfs://{two}/d/f.txt", str(tmp_path / "x")
        )
    assert "store 'mixed'" in str(info.value)
    assert KEY_1 not in str(info.value)
    assert KEY_2 not in str(info.value)


# -- three backends, three stores: a folder through local disk from one store to another -------


def test_folder_from_s3_store_through_local_to_gcs_store(
    s3_endpoint: str,
    s3_bucket: str,
    gcs_endpoint: str,
    gcs_bucket: str,
    azure_container: str,
    azurite: Any,
    tmp_path: Path,
) -> None:
    """S3, Azure and GCS stores in one config; a folder goes S3 -> local -> GCS -> local unchanged."""
    config = DataConfig(
        s3={"endpoint": "http://127.0.0.1:9", "access_key_id": "unused", "secret_access_key": "unused"},
        stores={
            "lake": {
                "prefixes": [f"s3://{s3_bucket}/"],
                "s3": _s3(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY),
            },
            "blobs": {
                "prefixes": [f"abfs://{azure_container}/"],
                "azure": {"connection_string": azurite.connection_string},
            },
            "warehouse": {
                "prefixes": [f"gs://{gcs_bucket}/"],
                "gcs": {"endpoint": gcs_endpoint, "token": "anon", "project": GCS_PROJECT},
            },
        },
    )
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(b"a" * 1000)
    (src / "sub" / "b.txt").write_bytes(b"beta")
    provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/raw", config)
    provider.put_data(str(src), f"s3://{s3_bucket}/data", is_multipart=True)
    provider.get_data(f"s3://{s3_bucket}/data", str(tmp_path / "mid"), is_multipart=True)
    provider.put_data(str(tmp_path / "mid"), f"gs://{gcs_bucket}/copy", is_multipart=True)
    provider.put_data(str(tmp_path / "mid"), f"abfs://{azure_container}/copy", is_multipart=True)
    provider.get_data(f"gs://{gcs_bucket}/copy", str(tmp_path / "gcs-out"), is_multipart=True)
    provider.get_data(f"abfs://{azure_container}/copy", str(tmp_path / "az-out"), is_multipart=True)
    expected = _tree(src)
    assert _tree(tmp_path / "gcs-out") == expected
    assert _tree(tmp_path / "az-out") == expected


# -- persist cp between two remote locations ----------------------------------------------------


def _store_file(
    path: Path,
    container: str,
    s3_endpoint: str,
    s3_bucket: str,
    gcs_endpoint: str,
    gcs_bucket: str,
    azurite: Any,
) -> str:
    path.write_text(
        "s3:\n  endpoint: http://127.0.0.1:9\n"
        "stores:\n"
        f"  lake:\n    prefixes: ['s3://{s3_bucket}/']\n"
        f"    s3: {{endpoint: '{s3_endpoint}', access_key_id: {S3_ACCESS_KEY},"
        f" secret_access_key: {S3_SECRET_KEY}, addressing_style: path, region: us-east-1}}\n"
        f"  warehouse:\n    prefixes: ['gs://{gcs_bucket}/']\n"
        f"    gcs: {{endpoint: '{gcs_endpoint}', token: anon, project: {GCS_PROJECT}}}\n"
        f"  blobs:\n    prefixes: ['abfs://{container}/']\n"
        f"    azure: {{connection_string: '{azurite.connection_string}'}}\n"
    )
    return str(path)


class TestRemoteCopy:
    @pytest.fixture
    def config(
        self,
        tmp_path: Path,
        s3_endpoint: str,
        s3_bucket: str,
        gcs_endpoint: str,
        gcs_bucket: str,
        azurite: Any,
        azure_container: str,
    ) -> str:
        return _store_file(
            tmp_path / "stores.yaml",
            azure_container,
            s3_endpoint,
            s3_bucket,
            gcs_endpoint,
            gcs_bucket,
            azurite,
        )

    def test_folder_copy_between_stores_keeps_layout(
        self,
        runner: CliRunner,
        config: str,
        s3_bucket: str,
        gcs_bucket: str,
        azure_container: str,
        tmp_path: Path,
    ) -> None:
        """`persist cp -r` S3 store -> GCS store -> Azure store; the relative layout is kept."""
        src = tmp_path / "src"
        (src / "sub" / "deeper").mkdir(parents=True)
        (src / "a.txt").write_bytes(b"alpha")
        (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
        (src / "sub" / "deeper" / "c.txt").write_bytes(b"gamma")
        assert (
            invoke(runner, "cp", "--config", config, "-r", "-q", str(src), f"s3://{s3_bucket}/data").exit_code
            == 0
        )
        one = invoke(
            runner,
            "cp",
            "--config",
            config,
            "-r",
            "--json",
            f"s3://{s3_bucket}/data",
            f"gs://{gcs_bucket}/copy",
        )
        assert one.exit_code == 0, one.output
        summary = json.loads(one.stdout)
        assert (summary["files"], summary["bytes"]) == (3, 5 + 10240 + 5)
        two = invoke(
            runner,
            "cp",
            "--config",
            config,
            "-r",
            "-q",
            f"gs://{gcs_bucket}/copy",
            f"abfs://{azure_container}/x",
        )
        assert two.exit_code == 0, two.output
        back = invoke(
            runner,
            "cp",
            "--config",
            config,
            "-r",
            "-q",
            f"abfs://{azure_container}/x",
            str(tmp_path / "back"),
        )
        assert back.exit_code == 0, back.output
        assert _tree(tmp_path / "back") == _tree(src)

    def test_file_copy_within_one_store(
        self, runner: CliRunner, config: str, s3_bucket: str, s3_admin_client: Any
    ) -> None:
        """A single object copies within one store; a folder without -r is a usage error."""
        s3_admin_client.put_object(Bucket=s3_bucket, Key="d/one.txt", Body=b"one")
        result = invoke(
            runner, "cp", "--config", config, "-q", f"s3://{s3_bucket}/d/one.txt", f"s3://{s3_bucket}/e/"
        )
        assert result.exit_code == 0, result.output
        assert s3_admin_client.get_object(Bucket=s3_bucket, Key="e/one.txt")["Body"].read() == b"one"
        folder = invoke(runner, "cp", "--config", config, f"s3://{s3_bucket}/d", f"s3://{s3_bucket}/f")
        assert folder.exit_code == 2
        assert folder.stderr.splitlines()[-1] == f"Error: s3://{s3_bucket}/d is a folder; use -r to copy it"

    def test_missing_source_is_not_found(
        self, runner: CliRunner, config: str, s3_bucket: str, gcs_bucket: str
    ) -> None:
        """A missing source is one error line, exit 1."""
        result = invoke(runner, "cp", "--config", config, f"s3://{s3_bucket}/nope", f"gs://{gcs_bucket}/x")
        assert result.exit_code == 1
        assert f"s3://{s3_bucket}/nope does not exist" in result.stderr


class TestRemoteCopyIsAtomicAndBounded:
    def test_failed_copy_leaves_no_object_and_no_upload(
        self, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any, tmp_path: Path
    ) -> None:
        """A part upload that fails mid-copy abandons the object: nothing appears, no upload is left."""
        s3_admin_client.put_object(Bucket=s3_bucket, Key="big.bin", Body=b"x" * (12 * 1024 * 1024))
        with FaultProxy(s3_endpoint) as proxy:
            proxy.fail_first(100, "reset", methods=["PUT"])
            config = DataConfig(
                generic={"write_chunk_size_bytes": 5 * 1024 * 1024},
                stores={
                    "src": {
                        "prefixes": [f"s3://{s3_bucket}/big"],
                        "s3": _s3(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY),
                    },
                    "dst": {
                        "prefixes": [f"s3://{s3_bucket}/out/"],
                        "s3": _s3(proxy.url, S3_ACCESS_KEY, S3_SECRET_KEY),
                    },
                },
            )
            provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/raw", config)
            with pytest.raises(UploadError, match="store 'dst'"):
                provider.copy(f"s3://{s3_bucket}/big.bin", f"s3://{s3_bucket}/out/big.bin")
            assert proxy.failures_injected >= 1
        clear_filesystem_cache()
        listed = s3_admin_client.list_objects_v2(Bucket=s3_bucket, Prefix="out/")
        assert listed.get("KeyCount", 0) == 0
        assert s3_admin_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []

    def test_copy_streams_through_bounded_memory(
        self,
        s3_endpoint: str,
        s3_bucket: str,
        gcs_endpoint: str,
        gcs_bucket: str,
        s3_admin_client: Any,
        tmp_path: Path,
    ) -> None:
        """A 96 MiB object copies S3 -> GCS holding a few parts in memory, and no local file.

        Measured here with 5 MiB parts: a peak of about 23 MiB for 32 and 128 MiB objects
        alike; the bound is eight parts, far below the object's size.
        """
        import tracemalloc

        part, size = 5 * 1024 * 1024, 96 * 1024 * 1024
        s3_admin_client.put_object(Bucket=s3_bucket, Key="large.bin", Body=b"\x07" * size)
        s3_admin_client.put_object(Bucket=s3_bucket, Key="small.bin", Body=b"warm")
        config = DataConfig(
            generic={"write_chunk_size_bytes": part},
            stores={
                "lake": {
                    "prefixes": [f"s3://{s3_bucket}/"],
                    "s3": _s3(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY),
                },
                "warehouse": {
                    "prefixes": [f"gs://{gcs_bucket}/"],
                    "gcs": {"endpoint": gcs_endpoint, "token": "anon", "project": GCS_PROJECT},
                },
            },
        )
        provider = FileAccessProvider(tmp_path / "sb", f"s3://{s3_bucket}/raw", config)
        # First use imports the backends and builds their clients: not part of the copy's memory.
        provider.copy(f"s3://{s3_bucket}/small.bin", f"gs://{gcs_bucket}/small.bin")
        tracemalloc.start()
        try:
            provider.copy(f"s3://{s3_bucket}/large.bin", f"gs://{gcs_bucket}/large.bin")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * part, f"peak {peak / 2**20:.1f} MiB"
        fs = provider.get_filesystem_for_path(f"gs://{gcs_bucket}/")
        assert fs.info(f"gs://{gcs_bucket}/large.bin")["size"] == size
        assert [p for p in (tmp_path / "sb").rglob("*") if p.is_file()] == []


# -- validate --probe, several times, each naming its store and credentials ---------------------


def test_probes_name_their_store_and_credentials(
    runner: CliRunner, two_accounts: TwoAccounts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each probe reports the store it used and the kind of credentials; a wrong key fails only its own."""
    acc = two_accounts
    path = tmp_path / "stores.yaml"
    path.write_text(
        "stores:\n"
        "  team_a:\n    prefixes: ['s3://team-a-']\n"
        f"    s3: {{endpoint: '{acc.endpoint}', addressing_style: path, region: us-east-1, retries: 0}}\n"
        f"  team_b:\n    prefixes: ['s3://{acc.bucket_b}/']\n"
        f"    s3: {{endpoint: '{acc.endpoint}', addressing_style: path, region: us-east-1, retries: 0}}\n"
    )
    monkeypatch.setenv("PERSIST_STORES__TEAM_A__S3__ACCESS_KEY_ID", acc.key_a[0])
    monkeypatch.setenv("PERSIST_STORES__TEAM_A__S3__SECRET_ACCESS_KEY", acc.key_a[1])
    monkeypatch.setenv("PERSIST_STORES__TEAM_B__S3__ACCESS_KEY_ID", acc.key_b[0])
    monkeypatch.setenv("PERSIST_STORES__TEAM_B__S3__SECRET_ACCESS_KEY", "wrong" + acc.key_b[1])
    a, b = f"s3://{acc.bucket_a}/probes", f"s3://{acc.bucket_b}/probes"
    result = invoke(runner, "validate", "--env", str(path), "--probe", a, "--probe", b)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    first, second = lines.index(f"{path}: probe {a}"), lines.index(f"{path}: probe {b}")
    assert lines[first + 1 : first + 3] == [
        "  store   team_a (prefix s3://team-a-)",
        "  auth    static keys from the config",
    ]
    assert lines[second + 1 : second + 3] == [
        f"  store   team_b (prefix s3://{acc.bucket_b}/)",
        "  auth    static keys from the config",
    ]
    assert re.fullmatch(re.escape(f"{path}: probe OK (") + r"\d+ ms\)", lines[second - 1])
    assert "  write   FAILED" in lines[second + 3]
    assert lines[second + 3].endswith(
        "the secret key does not match the access key id (SignatureDoesNotMatch)"
    )
    assert acc.key_a[1] not in result.output
    assert acc.key_b[1] not in result.output


def test_several_stores_example_runs() -> None:
    """examples/several_stores.py (README "Several stores") runs and says which store served what."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "several_stores.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(
        r"s3://team-a-raw/x\.csv: store minio \(prefix s3://team-a-\), endpoint http://127\.0\.0\.1:\d+",
        lines[0],
    )
    assert re.fullmatch(
        r"s3://results/x\.csv: store aws \(prefix s3://results/\), endpoint http://127\.0\.0\.1:\d+", lines[1]
    )
    assert lines[2] == "s3://elsewhere/x.csv: the top-level s3 section, endpoint None"
    assert lines[3] == "read back from the aws store: ['a,b', '1,2']"
