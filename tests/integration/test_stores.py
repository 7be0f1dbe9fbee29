"""Several named stores in one config, against real servers: each path reaches its own store."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

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
