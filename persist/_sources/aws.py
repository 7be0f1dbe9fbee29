"""Values from an AWS Secrets Manager secret, through pydantic-settings' own source class.

Selected by ``PERSIST_AWS_SECRET_ID`` (with ``PERSIST_AWS_SECRET_REGION``, else boto3's region
lookup; boto3 also honours ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``AWS_ENDPOINT_URL``). The
secret is a JSON object whose keys are named like persist's variables,
``{"PERSIST_S3__SECRET_ACCESS_KEY": "..."}`` (any case), so a value moves between the
environment, a secret file and the secret without renaming. Needs boto3:
``pip install 'persist[aws-secrets]'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic_settings import AWSSecretsManagerSettingsSource

from persist._sources._common import (
    AWS_SECRET_ID_ENV,
    AWS_SECRET_REGION_ENV,
    ENV_PREFIX,
    Explained,
    Layer,
    ListFriendly,
    Origin,
    blank,
    named_field,
    sections_of,
)
from persist.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["AwsSecretsManagerSource", "aws_secrets_source"]

AWS_SECRETS_LABEL = "aws-secretsmanager:{secret_id}"
"""How ``persist show`` and errors name the secret."""

_INSTALL_HINT = "reading an AWS Secrets Manager secret needs boto3; run `pip install 'persist[aws-secrets]'`"


class AwsSecretsManagerSource(ListFriendly, AWSSecretsManagerSettingsSource, Explained):
    """One Secrets Manager secret holding ``PERSIST_<SECTION>__<FIELD>`` keys.

    pydantic-settings' class makes the boto3 client and nests the ``__`` names; persist fetches
    and parses the secret itself (``_load_env_vars``) to turn a missing secret, denied access or
    a malformed document into a ConfigError naming the secret id, and to check each key name.
    """

    def __init__(self, settings_cls: type[BaseSettings], secret_id: str, region: str | None = None) -> None:
        self.found = Layer()
        self.secret_id = secret_id
        self.label = AWS_SECRETS_LABEL.format(secret_id=secret_id)
        super().__init__(
            settings_cls,
            secret_id=secret_id,
            region_name=region,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # pydantic-settings fetches the secret, parses its JSON and folds the keys' case.
            values = super()._load_env_vars()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "ClientError")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "ResourceNotFoundException":
                reason = f"no such secret ({code}); check {AWS_SECRET_ID_ENV} and the region"
            elif code in ("AccessDeniedException", "AccessDenied") or status == 403:
                # Classified by status too: a denial may come without a parseable code.
                reason = f"access denied ({code}); the credentials need secretsmanager:GetSecretValue"
            else:
                reason = f"{code}; check the secret and the credentials"
            self._problem(f"cannot read the secret: {reason}")
            return {}
        except BotoCoreError as exc:
            self._problem(f"cannot read the secret: {type(exc).__name__}")
            return {}
        except (ValueError, TypeError, AttributeError, KeyError):
            # Not JSON, not an object, or a binary secret. The value is never echoed: json's
            # messages hold positions only, but the text here names no part of the document.
            self._problem(f"the secret must be a JSON object of {ENV_PREFIX}<SECTION>__<FIELD> keys")
            return {}
        sections = sections_of(self.settings_cls)
        kept: dict[str, str | None] = {}
        for key, value in values.items():
            # Keys arrive lower-cased (they match in any case); errors show them as documented.
            named = named_field(self.label, key.upper(), sections)
            if not isinstance(named, tuple):
                self.found.problems.append(named)
                continue
            kept[key] = value
            self.found.origins[named] = Origin(self.label, ".".join(named))
        return kept

    def _problem(self, message: str) -> None:
        self.found.problems.append(ConfigError(self.label, "", message))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(secret_id={self.secret_id!r})"


def aws_secrets_source(
    settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
) -> AwsSecretsManagerSource | None:
    """The secret named by ``PERSIST_AWS_SECRET_ID``, or None when the variable is unset or empty.

    Raises:
        ConfigError: boto3 is not installed, or no region is known for the secret.
    """
    environ = os.environ if environ is None else environ
    secret_id = environ.get(AWS_SECRET_ID_ENV)
    if secret_id is None or blank(secret_id):
        return None
    region = environ.get(AWS_SECRET_REGION_ENV)
    region = None if region is None or blank(region) else region.strip()
    try:
        from botocore.exceptions import NoRegionError
    except ImportError:
        raise ConfigError(AWS_SECRET_ID_ENV, "", _INSTALL_HINT) from None
    try:
        return AwsSecretsManagerSource(settings_cls, secret_id.strip(), region)
    except ImportError:
        raise ConfigError(AWS_SECRET_ID_ENV, "", _INSTALL_HINT) from None
    except NoRegionError:
        raise ConfigError(
            AWS_SECRET_REGION_ENV,
            "",
            f"no region for the secret {secret_id.strip()!r}; set {AWS_SECRET_REGION_ENV} or AWS_REGION",
        ) from None
