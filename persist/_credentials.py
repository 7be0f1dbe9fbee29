"""Which credentials a request to a store will use, as far as each SDK can tell (for the probe).

A deployment that silently falls back to a node's role is the failure users hit most; ``persist
validate --probe`` names the kind it found, so the fallback is visible. This looks, it never
sends a request to storage: for S3 it asks botocore's credential chain (which may ask a
container or instance metadata endpoint, as the transfer itself would), for Azure and GCS it
reads the configured fields and the variables the SDKs' default chains read, in their order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from persist.config import DataConfig
from persist.options import AZURE_PROTOCOLS, FILE_PROTOCOLS, GCS_PROTOCOLS, S3_PROTOCOLS

__all__ = ["BOTOCORE_METHODS", "describe_credentials"]

BOTOCORE_METHODS: dict[str, str] = {
    "explicit": "static keys from the config",
    "env": "AWS environment variables (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "a shared credentials file profile (~/.aws/credentials)",
    "config-file": "a profile in the AWS config file (~/.aws/config)",
    "custom-process": "a credential_process of an AWS profile",
    "assume-role": "an assumed role of an AWS profile",
    "assume-role-with-web-identity": "web identity (IRSA: AWS_WEB_IDENTITY_TOKEN_FILE)",
    "sso": "AWS IAM Identity Center (SSO) login",
    "container-role": "container credentials (ECS/EKS pod identity endpoint)",
    "iam-role": "instance metadata (the node's IAM role)",
    "boto-config": "a boto2 config file",
}
"""botocore's ``Credentials.method`` values, and how the probe names them."""


def describe_credentials(
    protocol: str, data_config: DataConfig, anonymous: bool = False, environ: Mapping[str, str] | None = None
) -> str:
    """The kind of credentials requests on ``protocol`` will carry under ``data_config``.

    Args:
        protocol: the path's protocol.
        data_config: the config serving the path (a store's own, see ``persist._stores``).
        anonymous: the store is anonymous.
        environ: the environment the SDKs read (``os.environ`` when None).

    Returns:
        A short phrase, e.g. ``static keys from the config`` or ``instance metadata (the
        node's IAM role)``; never a secret.
    """
    env = os.environ if environ is None else environ
    if protocol in FILE_PROTOCOLS:
        return "none needed (local disk)"
    if anonymous:
        return "anonymous (unsigned requests)"
    if protocol in S3_PROTOCOLS:
        return _s3(data_config)
    if protocol in AZURE_PROTOCOLS:
        return _azure(data_config, env)
    if protocol in GCS_PROTOCOLS:
        return _gcs(data_config, env)
    return "unknown (a protocol persist does not configure)"


def _s3(config: DataConfig) -> str:
    s3 = config.s3
    if s3.access_key_id and s3.secret_access_key is not None:
        kind = "static keys from the config"
        return kind + (" with a session token" if s3.session_token is not None else "")
    try:
        import botocore.session
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - s3fs needs botocore
        return "unknown (botocore is not installed)"
    try:
        credentials = botocore.session.get_session().get_credentials()
    except BotoCoreError as exc:
        return f"none usable: {type(exc).__name__}"
    if credentials is None:
        return "none found: requests go unsigned only after a refusal (public data)"
    method = getattr(credentials, "method", "") or ""
    return BOTOCORE_METHODS.get(method, f"botocore's {method or 'unnamed'} provider")


def _azure(config: DataConfig, env: Mapping[str, str]) -> str:
    az = config.azure
    if az.connection_string is not None:
        return "connection string from the config"
    if az.account_key is not None:
        return "account key from the config"
    if az.sas_token is not None:
        return "SAS token from the config"
    if az.client_secret is not None:
        return "service principal (client secret) from the config"
    if az.tenant_id and az.client_id:
        token = env.get("AZURE_FEDERATED_TOKEN_FILE")
        return (
            "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
            if token
            else ("workload identity, but AZURE_FEDERATED_TOKEN_FILE is not set")
        )
    # azure-identity's DefaultAzureCredential, in its order.
    if env.get("AZURE_CLIENT_SECRET") and env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID"):
        return "service principal from AZURE_* environment variables"
    if env.get("AZURE_FEDERATED_TOKEN_FILE") and env.get("AZURE_CLIENT_ID"):
        return "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
    if env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"):
        return "managed identity (IDENTITY_ENDPOINT)"
    return (
        "DefaultAzureCredential: managed identity (instance metadata) or Azure CLI login, whichever answers"
    )


def _gcs(config: DataConfig, env: Mapping[str, str]) -> str:
    token = config.gcs.token
    if token == "anon":  # noqa: S105 - gcsfs's name for no credentials
        return "anonymous (token: anon)"
    if token == "cloud":  # noqa: S105
        return "metadata server (token: cloud)"
    if token and token != "google_default":  # noqa: S105
        return f"service-account file {token}"
    adc = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if adc:
        return f"application default credentials: GOOGLE_APPLICATION_CREDENTIALS ({adc})"
    home = env.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    if os.path.isfile(os.path.join(home, "application_default_credentials.json")):
        return "application default credentials: gcloud auth application-default login"
    if token == "google_default":  # noqa: S105
        return "application default credentials: metadata server (none found locally)"
    return "gcsfs default lookup: metadata server if present, else anonymous"
