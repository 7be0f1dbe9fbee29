"""The one error boundary (persist._errors): backend exceptions -> persist's errors, per backend.

The exceptions here are the backends' own classes, constructed (no storage client is involved);
tests/integration/test_error_table.py checks the same mapping on exceptions real servers cause.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import gcsfs.retry
import google.auth.exceptions
import obstore.exceptions
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from botocore.exceptions import ClientError, NoCredentialsError

from persist._errors import FileFailedError, Kind, classify, explain, to_persist_error
from persist._text import MASK
from persist.errors import DataNotFoundError, DownloadError, InvalidInputError, PersistError, UploadError
from tests.test_fs import azure_error, chained, client_error


def http_status(kind: type[HttpResponseError], status: int, code: str, message: str) -> HttpResponseError:
    """An Azure SDK error with an HTTP status and an error code, as azure-storage-blob raises it."""
    error = azure_error(code, message, kind)
    error.status_code = status
    return error


def s3_status(status: int, message: str = "") -> ClientError:
    """A botocore ClientError of a HEAD request: no error code but the HTTP status."""
    return ClientError(
        {"Error": {"Code": str(status), "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "HeadObject",
    )


S3 = {
    "argnames": ("exc", "kind"),
    "argvalues": [
        pytest.param(
            client_error("NoSuchKey", "The specified key does not exist."), Kind.NOT_FOUND, id="no-such-key"
        ),
        pytest.param(
            client_error("NoSuchBucket", "The bucket does not exist."), Kind.NOT_FOUND, id="no-bucket"
        ),
        pytest.param(s3_status(404, "Not Found"), Kind.NOT_FOUND, id="head-404"),
        pytest.param(client_error("AccessDenied", "Access Denied"), Kind.DENIED, id="access-denied"),
        pytest.param(s3_status(403, "Forbidden"), Kind.DENIED, id="head-403"),
        pytest.param(
            client_error("InvalidAccessKeyId", "not found in our records"), Kind.DENIED, id="bad-key-id"
        ),
        pytest.param(client_error("SignatureDoesNotMatch", "signature"), Kind.DENIED, id="bad-secret"),
        pytest.param(NoCredentialsError(), Kind.DENIED, id="no-credentials"),
        # s3fs turns 404 and 403 into the builtins, with the ClientError as the cause.
        pytest.param(
            chained(FileNotFoundError("b/k"), client_error("NoSuchKey", "gone")),
            Kind.NOT_FOUND,
            id="s3fs-404",
        ),
        pytest.param(
            chained(PermissionError("Forbidden"), s3_status(403, "Not Found?")), Kind.DENIED, id="s3fs-403"
        ),
        pytest.param(
            client_error("SlowDown", "Please reduce your request rate."), Kind.OTHER, id="throttled"
        ),
    ],
}

AZURE = {
    "argnames": ("exc", "kind"),
    "argvalues": [
        pytest.param(
            azure_error("BlobNotFound", "The specified blob does not exist.", ResourceNotFoundError),
            Kind.NOT_FOUND,
            id="blob-not-found",
        ),
        pytest.param(
            http_status(HttpResponseError, 404, "ContainerNotFound", "The container does not exist."),
            Kind.NOT_FOUND,
            id="container-not-found",
        ),
        pytest.param(
            http_status(
                ClientAuthenticationError, 403, "AuthenticationFailed", "Server failed to authenticate"
            ),
            Kind.DENIED,
            id="authentication-failed",
        ),
        pytest.param(
            # A refusal whose text mentions a resource "not found" is still a refusal.
            http_status(HttpResponseError, 403, "AuthorizationFailure", "Permission for blob not found"),
            Kind.DENIED,
            id="403-mentioning-not-found",
        ),
        pytest.param(http_status(HttpResponseError, 503, "ServerBusy", "busy"), Kind.OTHER, id="busy"),
    ],
}

GCS = {
    "argnames": ("exc", "kind"),
    "argvalues": [
        pytest.param(
            gcsfs.retry.HttpError({"code": 404, "message": "No such object"}), Kind.NOT_FOUND, id="404"
        ),
        pytest.param(gcsfs.retry.HttpError({"code": 403, "message": "Forbidden"}), Kind.DENIED, id="403"),
        pytest.param(
            gcsfs.retry.HttpError({"code": 403, "message": "does not have storage.objects.get; not found"}),
            Kind.DENIED,
            id="403-mentioning-not-found",
        ),
        pytest.param(gcsfs.retry.HttpError({"code": 401, "message": "Unauthorized"}), Kind.DENIED, id="401"),
        pytest.param(
            # gcsfs's message for a missing key file: a credentials problem, not missing data.
            google.auth.exceptions.DefaultCredentialsError("File /etc/key.json was not found."),
            Kind.DENIED,
            id="key-file-missing",
        ),
        pytest.param(
            google.auth.exceptions.RefreshError("invalid_grant: account not found"), Kind.DENIED, id="refresh"
        ),
        pytest.param(FileNotFoundError("bucket/key"), Kind.NOT_FOUND, id="gcsfs-404"),
        pytest.param(
            # aiohttp's own error (gcsfs and adlfs transports): by status, without reading the
            # deprecated ``code`` alias, which warns (and warnings fail this suite).
            aiohttp.ClientResponseError(None, (), status=403, message="Not Found?"),  # type: ignore[arg-type]
            Kind.DENIED,
            id="aiohttp-403",
        ),
        pytest.param(gcsfs.retry.HttpError({"code": 503, "message": "Backend Error"}), Kind.OTHER, id="503"),
    ],
}

OBSTORE = {
    "argnames": ("exc", "kind"),
    "argvalues": [
        pytest.param(
            obstore.exceptions.NotFoundError("Object at location k not found"), Kind.NOT_FOUND, id="not-found"
        ),
        pytest.param(obstore.exceptions.PermissionDeniedError("403 Forbidden"), Kind.DENIED, id="denied"),
        pytest.param(
            obstore.exceptions.UnauthenticatedError("401 not found"), Kind.DENIED, id="unauthenticated"
        ),
        pytest.param(
            obstore.exceptions.InvalidPathError("Encountered illegal ..."), Kind.INVALID, id="bad-path"
        ),
        # A generic error is classified by its text, the last resort: a 403 is never "not found".
        pytest.param(
            obstore.exceptions.GenericError("Client error with status 403 Forbidden: NoSuchKey?"),
            Kind.DENIED,
            id="generic-403",
        ),
        pytest.param(
            obstore.exceptions.GenericError("Client error with status 404 Not Found"),
            Kind.NOT_FOUND,
            id="generic-404",
        ),
        pytest.param(obstore.exceptions.GenericError("connection closed"), Kind.OTHER, id="generic-other"),
    ],
}

LOCAL = {
    "argnames": ("exc", "kind"),
    "argvalues": [
        pytest.param(FileNotFoundError(2, "No such file or directory", "/x"), Kind.NOT_FOUND, id="missing"),
        pytest.param(
            PermissionError(13, "Permission denied", "/data/2404.csv"), Kind.DENIED, id="permission"
        ),
        pytest.param(IsADirectoryError(21, "Is a directory", "/x"), Kind.OTHER, id="folder"),
        pytest.param(ValueError("bad key s3://bucket/k-403"), Kind.OTHER, id="digits-in-a-key"),
        pytest.param(InvalidInputError("escapes"), Kind.INVALID, id="invalid-input"),
        pytest.param(DataNotFoundError("s3://b/x does not exist"), Kind.NOT_FOUND, id="data-not-found"),
    ],
}


class TestClassify:
    """One table per backend: the backend's exception -> what it means."""

    @pytest.mark.parametrize(**S3)
    def test_s3(self, exc: BaseException, kind: Kind) -> None:
        assert classify(exc) is kind

    @pytest.mark.parametrize(**AZURE)
    def test_azure(self, exc: BaseException, kind: Kind) -> None:
        assert classify(exc) is kind

    @pytest.mark.parametrize(**GCS)
    def test_gcs(self, exc: BaseException, kind: Kind) -> None:
        assert classify(exc) is kind

    @pytest.mark.parametrize(**OBSTORE)
    def test_obstore(self, exc: BaseException, kind: Kind) -> None:
        assert classify(exc) is kind

    @pytest.mark.parametrize(**LOCAL)
    def test_local(self, exc: BaseException, kind: Kind) -> None:
        assert classify(exc) is kind

    def test_type_beats_text_anywhere_in_the_chain(self) -> None:
        """A typed refusal deep in the chain wins over "not found" in an outer message."""
        exc = chained(RuntimeError("object not found"), PermissionError("denied"))
        assert classify(exc) is Kind.DENIED

    def test_failed_file_is_classified_by_its_cause(self) -> None:
        assert classify(chained(FileFailedError("a", "b"), client_error("NoSuchKey", "x"))) is Kind.NOT_FOUND


MAPPED: dict[str, Any] = {
    "argnames": ("operation", "exc", "expected", "text"),
    "argvalues": [
        pytest.param(
            "download",
            client_error("NoSuchKey", "gone"),
            DataNotFoundError,
            "s3://b/k does not exist",
            id="dl-404",
        ),
        pytest.param(
            "download",
            client_error("AccessDenied", "Access Denied"),
            DownloadError,
            "download s3://b/k -> /tmp/k failed (AccessDenied)",
            id="dl-403",
        ),
        pytest.param(
            "download",
            google.auth.exceptions.DefaultCredentialsError("File /etc/key.json was not found."),
            DownloadError,
            "download s3://b/k -> /tmp/k failed (File /etc/key.json was not found.)",
            id="dl-no-credentials",
        ),
        pytest.param(
            "upload",
            client_error("NoSuchBucket", "no bucket"),
            UploadError,
            "upload s3://b/k -> /tmp/k failed (NoSuchBucket)",
            id="up-no-bucket",
        ),
        pytest.param(
            "lookup",
            s3_status(403),
            DownloadError,
            "cannot tell whether s3://b/k exists (403)",
            id="lookup-403",
        ),
        pytest.param(
            "list", FileNotFoundError("b/k"), DataNotFoundError, "s3://b/k does not exist", id="ls-404"
        ),
        pytest.param(
            "list",
            client_error("AccessDenied", "Access Denied"),
            PersistError,
            "cannot list s3://b/k (the credentials are not allowed to do this here (AccessDenied))",
            id="ls-403",
        ),
        pytest.param("delete", s3_status(404), DataNotFoundError, "s3://b/k does not exist", id="rm-404"),
    ],
}


class TestToPersistError:
    @pytest.mark.parametrize(**MAPPED)
    def test_mapping(self, operation: Any, exc: BaseException, expected: type, text: str) -> None:
        """Each operation's failure becomes the documented error, naming the paths and the reason."""
        err = to_persist_error(exc, operation, "s3://b/k", "/tmp/k")
        assert type(err) is expected
        assert str(err) == text
        assert err.__cause__ is exc

    def test_a_403_is_never_reported_as_not_found(self) -> None:
        """Whatever the text says, a refusal is a DownloadError, not a DataNotFoundError."""
        exc = chained(PermissionError("Forbidden"), s3_status(403, "key not found"))
        assert not isinstance(to_persist_error(exc, "download", "s3://b/k", "/tmp/k"), DataNotFoundError)

    def test_failed_file_of_a_folder_is_named(self) -> None:
        exc = chained(FileFailedError("s3://b/d/x", "/tmp/d/x"), client_error("AccessDenied", "no"))
        err = to_persist_error(exc, "download", "s3://b/d", "/tmp/d", recursive=True)
        assert str(err) == (
            "download s3://b/d -> /tmp/d failed at s3://b/d/x; "
            "files already written are complete (AccessDenied)"
        )
        assert isinstance(err.__cause__, ClientError)

    def test_persist_errors_pass_through_unchanged(self) -> None:
        """An error a backend raised on purpose (a refused key) is reported as it is."""
        own = InvalidInputError("remote key '../x' escapes /tmp/d")
        assert to_persist_error(chained(FileFailedError("a", "b"), own), "download", "s", "d") is own

    def test_secrets_are_masked(self) -> None:
        exc = RuntimeError("key s3cr3t-canary refused; url ?sig=abcdef")
        err = to_persist_error(exc, "list", "s3://b/k", secrets=["s3cr3t-canary"])
        assert "s3cr3t-canary" not in str(err)
        assert "abcdef" not in str(err)
        assert MASK in str(err)


class TestExplain:
    def test_known_codes_are_explained(self) -> None:
        assert explain(client_error("SignatureDoesNotMatch", "x")) == (
            "the secret key does not match the access key id (SignatureDoesNotMatch)"
        )

    def test_missing_google_credentials_are_named(self) -> None:
        exc = google.auth.exceptions.DefaultCredentialsError("File /etc/key.json was not found.")
        assert explain(exc) == "no usable Google credentials (File /etc/key.json was not found.)"

    def test_connection_refused(self) -> None:
        exc = chained(RuntimeError("request failed"), ConnectionRefusedError(111, "Connection refused"))
        assert explain(exc).startswith("cannot connect to the endpoint")
