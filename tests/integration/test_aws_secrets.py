"""AWS Secrets Manager as a config source, against moto's real Secrets Manager API.

moto's standalone server answers every AWS service on one endpoint, so the session's S3 server
also serves secretsmanager (and IAM, for the denied-access case).
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner

from persist import ConfigError, DataConfig
from persist._sources import AWS_SECRET_ID_ENV, AWS_SECRET_REGION_ENV, default_sources, resolve
from persist.cli import cli
from tests.integration.servers import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, moto_client

CANARY = "canary-aws-secret-5d1c0e"
"""A secret value that must never be printed."""


@pytest.fixture
def secrets_client(s3_endpoint: str) -> Iterator[Any]:
    """A boto3 secretsmanager client of the session's moto server."""
    with moto_client(s3_endpoint, service="secretsmanager") as client:
        yield client


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> None:
    """boto3 reaches moto through AWS_ENDPOINT_URL_SECRETS_MANAGER, with test credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    monkeypatch.setenv(AWS_SECRET_REGION_ENV, S3_REGION)


def make_secret(client: Any, values: dict[str, Any]) -> str:
    """Create a secret holding ``values`` as JSON; return its name."""
    name = f"persist/test/{uuid.uuid4().hex[:12]}"
    client.create_secret(Name=name, SecretString=json.dumps(values))
    return name


@pytest.mark.usefixtures("secret_env")
class TestValuesFromTheSecret:
    def test_values_land_in_their_fields(self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """Keys named like persist's variables (any case) set their fields, parsed to their types."""
        secret_id = make_secret(
            secrets_client,
            {
                "PERSIST_S3__SECRET_ACCESS_KEY": CANARY,
                "PERSIST_S3__ACCESS_KEY_ID": "from-secret",
                "persist_s3__retries": "7",
                "PERSIST_GENERIC__MAX_CONCURRENCY": 4,
            },
        )
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        config = DataConfig.auto()
        assert config.s3.secret_access_key is not None
        assert config.s3.secret_access_key.get_secret_value() == CANARY
        assert (config.s3.access_key_id, config.s3.retries) == ("from-secret", 7)
        assert config.generic.max_concurrency == 4

    def test_higher_sources_win_field_by_field(
        self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
    ) -> None:
        """The secret sits below the file and the variables: they win where they set a field."""
        secret_id = make_secret(
            secrets_client, {"PERSIST_S3__REGION": "secret-region", "PERSIST_S3__ACCESS_KEY_ID": "secret-id"}
        )
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        path = tmp_path / "c.yaml"
        path.write_text("s3:\n  region: file-region\n", encoding="utf-8")
        config = DataConfig.auto(path)
        assert (config.s3.region, config.s3.access_key_id) == ("file-region", "secret-id")

    def test_show_names_the_secret_and_masks_it(
        self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch, runner: CliRunner
    ) -> None:
        """`persist show` names the secret as the source of its values and prints no secret."""
        secret_id = make_secret(
            secrets_client, {"PERSIST_S3__SECRET_ACCESS_KEY": CANARY, "PERSIST_S3__REGION": "eu-west-3"}
        )
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        result = runner.invoke(cli, ["show"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert f"  secret_access_key: '[secure]'  # aws-secretsmanager:{secret_id}" in lines
        assert f"  region: eu-west-3  # aws-secretsmanager:{secret_id}" in lines
        assert CANARY not in result.output

    def test_origins_name_the_secret(self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """The loader records the secret, and the dotted field, as each value's origin."""
        secret_id = make_secret(secrets_client, {"PERSIST_AZURE__ACCOUNT_NAME": "acct"})
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        loaded = resolve(DataConfig, default_sources(DataConfig))
        origin = loaded.origins[("azure", "account_name")]
        assert (origin.source, origin.key) == (f"aws-secretsmanager:{secret_id}", "azure.account_name")


@pytest.mark.usefixtures("secret_env")
class TestSecretErrors:
    def test_missing_secret_names_the_secret_id(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A secret that does not exist is a ConfigError naming its id."""
        monkeypatch.setenv(AWS_SECRET_ID_ENV, "persist/test/no-such-secret")
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            "aws-secretsmanager:persist/test/no-such-secret: cannot read the secret: no such secret "
            f"(ResourceNotFoundException); check {AWS_SECRET_ID_ENV} and the region"
        )

    def test_unknown_key_is_named_with_a_hint(
        self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A misspelt key is an error naming the secret and the field, never the value."""
        secret_id = make_secret(secrets_client, {"PERSIST_S3__SECRET_ACESS_KEY": CANARY})
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            f"aws-secretsmanager:{secret_id}: s3.secret_acess_key: unknown key; "
            "did you mean 'secret_access_key'?"
        )

    def test_key_not_named_like_a_variable_is_an_error(
        self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A key that is not PERSIST_<SECTION>__<FIELD> says what the form is."""
        secret_id = make_secret(secrets_client, {"s3.region": "r"})
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        with pytest.raises(
            ConfigError, match=r"S3\.REGION is not a persist setting; use PERSIST_<SECTION>__"
        ):
            DataConfig.auto()

    def test_secret_that_is_not_a_json_object(
        self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plain-text secret is an error naming the secret, without echoing it."""
        name = f"persist/test/{uuid.uuid4().hex[:12]}"
        secrets_client.create_secret(Name=name, SecretString=CANARY)
        monkeypatch.setenv(AWS_SECRET_ID_ENV, name)
        with pytest.raises(ConfigError) as info:
            DataConfig.auto()
        assert str(info.value) == (
            f"aws-secretsmanager:{name}: the secret must be a JSON object of PERSIST_<SECTION>__<FIELD> keys"
        )
        assert CANARY not in str(info.value)

    def test_denied_access_names_the_secret_id(
        self, secrets_client: Any, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
    ) -> None:
        """Credentials without secretsmanager:GetSecretValue give a ConfigError naming the secret."""
        secret_id = make_secret(secrets_client, {"PERSIST_S3__SECRET_ACCESS_KEY": CANARY})
        key_id, key_secret = denied_user(s3_endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key_secret)
        monkeypatch.setenv(AWS_SECRET_ID_ENV, secret_id)
        with iam_enforced(s3_endpoint), pytest.raises(ConfigError) as info:
            DataConfig.auto()
        # moto's denial body is not the JSON protocol's, so botocore gives the status as code.
        assert re.fullmatch(
            rf"aws-secretsmanager:{re.escape(secret_id)}: cannot read the secret: access denied "
            r"\((AccessDeniedException|403)\); the credentials need secretsmanager:GetSecretValue",
            str(info.value),
        )
        assert CANARY not in str(info.value)

    def test_empty_secret_id_is_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty PERSIST_AWS_SECRET_ID (as Helm renders it) reads no secret and is reported."""
        monkeypatch.setenv(AWS_SECRET_ID_ENV, " ")
        loaded = resolve(DataConfig, default_sources(DataConfig))
        assert loaded.config == DataConfig()
        assert loaded.ignored == [AWS_SECRET_ID_ENV]


def denied_user(endpoint: str) -> tuple[str, str]:
    """An IAM user whose only policy denies reading secrets; its access key id and secret."""
    name = f"persist-denied-{uuid.uuid4().hex[:8]}"
    with moto_client(endpoint, service="iam") as iam:
        iam.create_user(UserName=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
                {"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"},
            ],
        }
        iam.put_user_policy(UserName=name, PolicyName="deny-secrets", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def iam_enforced(endpoint: str) -> Iterator[None]:
    """Make moto check IAM policies on every request, as AWS does, until the block ends."""

    def reset_auth(count: str) -> str:
        # text/plain: a form content type would make moto's server read the body as a form.
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=count.encode(),
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            previous: str = json.loads(response.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        return previous

    previous = reset_auth("0")
    try:
        yield
    finally:
        reset_auth(previous)
