"""The one error boundary: backend exceptions in, persist's errors out.

Every provider method and CLI command that touches storage maps failures here. An exception is
classified by its type and error code first (s3fs, adlfs and gcsfs raise ``FileNotFoundError``
and ``PermissionError``; botocore, the Azure SDK, gcsfs, google-auth and obstore have classes and
codes of their own); its message text is read only when nothing in the chain has a type or
code that decides. Backend modules are never imported here: a class is only checked when its
module is already loaded (an exception of a module nobody imported cannot exist), which keeps
``import persist`` light.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, Literal

from persist._text import backend_reason, exception_chain, redact
from persist.errors import DataNotFoundError, DownloadError, InvalidInputError, PersistError, UploadError

__all__ = [
    "FileFailedError",
    "Kind",
    "Operation",
    "classify",
    "explain",
    "to_persist_error",
]


class FileFailedError(Exception):
    """One file of a transfer failed; ``__cause__`` is the backend's error."""

    def __init__(self, src: str, dst: str) -> None:
        super().__init__(f"{src} -> {dst}")
        self.src = src
        self.dst = dst


class Kind(enum.Enum):
    """What a backend failure means for the caller."""

    NOT_FOUND = "not found"
    DENIED = "denied"  # refused or missing credentials: worth an anonymous retry for public data
    INVALID = "invalid"
    OTHER = "other"


_NOT_FOUND_CODES = frozenset(
    {"NoSuchKey", "NoSuchBucket", "NotFound", "BlobNotFound", "ContainerNotFound", "ResourceNotFound"}
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "ExpiredToken",
        "Forbidden",
        "InvalidAccessKeyId",
        "InvalidToken",
        "NoAuthenticationInformation",
        "SignatureDoesNotMatch",
    }
)


def _loaded(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """The named exception classes of ``module`` if it is imported already, else none."""
    found = sys.modules.get(module)
    if found is None:
        return ()
    return tuple(cls for cls in (getattr(found, name, None) for name in names) if isinstance(cls, type))


def _status_kind(status: Any) -> Kind | None:
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    if status == 404:
        return Kind.NOT_FOUND
    if status in (401, 403):
        return Kind.DENIED
    return None


def _code_kind(code: Any) -> Kind | None:
    if not isinstance(code, str):
        return None
    if code in _NOT_FOUND_CODES:
        return Kind.NOT_FOUND
    if code in _DENIED_CODES:
        return Kind.DENIED
    return _status_kind(int(code)) if code.isdigit() else None


def _by_type(err: BaseException) -> Kind | None:
    """The kind ``err`` has by its class or its error code; None when those do not say."""
    if isinstance(err, InvalidInputError):
        return Kind.INVALID
    if isinstance(err, DataNotFoundError):
        return Kind.NOT_FOUND
    if isinstance(err, PersistError):
        return Kind.OTHER
    # google-auth: no credentials found, or a token that cannot be refreshed. Its messages say
    # "File /etc/key.json was not found.": a credentials problem, never missing data.
    if isinstance(err, _loaded("google.auth.exceptions", "GoogleAuthError")):
        return Kind.DENIED
    obstore_kinds = (
        ("NotFoundError", Kind.NOT_FOUND),
        ("PermissionDeniedError", Kind.DENIED),
        ("UnauthenticatedError", Kind.DENIED),
        ("InvalidPathError", Kind.INVALID),
    )
    for name, kind in obstore_kinds:
        if isinstance(err, _loaded("obstore.exceptions", name)):
            return kind
    if isinstance(err, _loaded("botocore.exceptions", "NoCredentialsError", "PartialCredentialsError")):
        return Kind.DENIED
    if isinstance(err, _loaded("azure.core.exceptions", "ResourceNotFoundError")):
        return Kind.NOT_FOUND
    if isinstance(err, _loaded("azure.core.exceptions", "ClientAuthenticationError")):
        return Kind.DENIED
    # botocore ClientError: the S3 error code, then the HTTP status.
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        by_code = _code_kind(error.get("Code"))
        if by_code is None:
            by_code = _status_kind((response.get("ResponseMetadata") or {}).get("HTTPStatusCode"))
        if by_code is not None:
            return by_code
    # Azure HttpResponseError: error_code, then status_code; aiohttp: status; gcsfs HttpError:
    # code. Looked up one at a time, in this order: aiohttp's ``code`` is a deprecated alias
    # of ``status`` that warns when read.
    found = _code_kind(getattr(err, "error_code", None))
    for name in ("status_code", "status", "code"):
        if found is not None:
            return found
        found = _status_kind(getattr(err, name, None))
    if found is not None:
        return found
    if isinstance(err, FileNotFoundError):
        return Kind.NOT_FOUND
    if isinstance(err, PermissionError):
        return Kind.DENIED
    return None


def _status(*codes: str) -> re.Pattern[str]:
    """An HTTP status code standing alone, as in ``(503)``, ``403 Forbidden``, ``HTTP 404``."""
    # The same digits inside a path, key, port or longer number ("/runs/run-1404.csv") are not one.
    return re.compile(rf"(?<![\w./\\:-])(?:{'|'.join(codes)})(?![\w/\\-]|\.\w)")


_DENIED_TEXT = ("forbidden", "accessdenied", "access denied", "unable to locate credentials")
_DENIED_STATUS = _status("401", "403")
_NOT_FOUND_TEXT = ("nosuchkey", "nosuchbucket", "not found", "blobnotfound")
_NOT_FOUND_STATUS = _status("404")


def _by_text(err: BaseException) -> Kind | None:
    """The last resort: the kind the message names. A refusal wins over "not found"."""
    text = f"{type(err).__name__}: {err}".lower()
    if any(p in text for p in _DENIED_TEXT) or _DENIED_STATUS.search(text):
        return Kind.DENIED
    if any(p in text for p in _NOT_FOUND_TEXT) or _NOT_FOUND_STATUS.search(text):
        return Kind.NOT_FOUND
    return None


def classify(exc: BaseException) -> Kind:
    """What ``exc`` (or the first error in its chain that says) means: by type and code, then text."""
    chain = list(exception_chain(exc))
    for err in chain:
        kind = _by_type(err)
        if kind is not None:
            return kind
    for err in chain:
        kind = _by_text(err)
        if kind is not None:
            return kind
    return Kind.OTHER


def backend_cause(exc: BaseException) -> BaseException:
    """The backend error behind a FileFailedError; any other error is its own cause."""
    if isinstance(exc, FileFailedError):
        return exc.__cause__ or exc
    return exc


def _persist_error_in(exc: BaseException) -> PersistError | None:
    """A PersistError raised on purpose, reported as it is: the error itself, or a refused input.

    Any other PersistError met inside a file's transfer (a protocol nobody can open, say)
    becomes part of that transfer's UploadError or DownloadError, which names the paths.
    """
    if isinstance(exc, PersistError):
        return exc
    for err in exception_chain(exc):
        if isinstance(err, InvalidInputError):
            return err
    return None


Operation = Literal["upload", "download", "lookup", "list", "delete"]


def to_persist_error(
    exc: BaseException,
    operation: Operation,
    src: str,
    dst: str = "",
    *,
    recursive: bool = False,
    secrets: Iterable[str] = (),
    reason: Callable[[BaseException], str] = backend_reason,
) -> PersistError:
    """The persist error to raise for ``exc``, with its backend cause chained and secrets masked.

    Args:
        exc: what the transfer raised (a FileFailedError names the file that failed).
        operation: what was being done to ``src`` (to ``dst``).
        src: the source (for a lookup, listing or delete: the path).
        dst: the destination of a transfer.
        recursive: the transfer was of a folder.
        secrets: values to mask out of the message.
        reason: names the backend's reason in a few words (default: its error code or first
            line); a caller that knows more (which limit ran out, at which endpoint) passes its own.

    Returns:
        A PersistError a backend raised on purpose, unchanged; else a new DataNotFoundError,
        UploadError, DownloadError or PersistError whose ``__cause__`` is the backend's error.
    """
    own = _persist_error_in(exc)
    if own is not None:
        return own
    cause = backend_cause(exc)
    kind = classify(cause)
    why = reason(cause)
    error: PersistError
    if operation == "upload":
        where = f" at {exc.src}" if recursive and isinstance(exc, FileFailedError) else ""
        error = UploadError(f"upload {src} -> {dst} failed{where} ({why})")
    elif kind is Kind.NOT_FOUND and operation in ("download", "list", "delete"):
        error = DataNotFoundError(f"{src} does not exist")
    elif operation == "download":
        if isinstance(exc, FileFailedError) and recursive:
            text = f"download {src} -> {dst} failed at {exc.src}; files already written are complete"
        elif isinstance(exc, FileFailedError):
            text = f"download {src} -> {dst} failed; {dst} left unchanged"
        else:
            text = f"download {src} -> {dst} failed"
        error = DownloadError(f"{text} ({why})")
    elif operation == "lookup":
        error = DownloadError(f"cannot tell whether {src} exists ({why})")
    else:
        # A caller's reason that says more than the backend's code (a timeout, naming the
        # limit and the endpoint) is kept; otherwise the explanation a person can act on.
        said = why if why != backend_reason(cause) else explain(cause)
        verb = "list" if operation == "list" else "delete"
        error = PersistError(f"cannot {verb} {src} ({said})")
    error.args = (redact(str(error), list(secrets)),)
    error.__cause__ = cause
    error.__suppress_context__ = True
    return error


_EXPLANATIONS = {
    "InvalidAccessKeyId": "the server does not know this access key id",
    "SignatureDoesNotMatch": "the secret key does not match the access key id",
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "the credentials are not allowed to do this here",
    "ContainerNotFound": "the container does not exist",
    "AuthenticationFailed": "the account key or token was refused",
    "AuthorizationFailure": "the credentials are not allowed to do this here",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
}


def explain(exc: BaseException) -> str:
    """One line a person can act on: what went wrong, then the backend's own reason."""
    if isinstance(exc, PersistError) and exc.__cause__ is None:
        return str(exc).splitlines()[0]
    cause = exc.__cause__ or exc if isinstance(exc, PersistError) else exc
    reason = backend_reason(cause)
    if reason in _EXPLANATIONS:
        return f"{_EXPLANATIONS[reason]} ({reason})"
    if isinstance(cause, _loaded("google.auth.exceptions", "GoogleAuthError")):
        return f"no usable Google credentials ({reason})"
    kind = classify(cause)
    if kind is Kind.DENIED:
        return f"the credentials were refused or are not allowed to do this here ({reason})"
    if kind is Kind.NOT_FOUND:
        return f"it does not exist ({reason})"
    lowered = _chain_text(exc).lower()
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "getaddrinfo" in lowered
    ):
        return f"cannot resolve the endpoint's host name (DNS): {reason}"
    if "connection refused" in lowered or "could not connect" in lowered or "cannot connect" in lowered:
        return f"cannot connect to the endpoint; is the URL right and the server up? ({reason})"
    if "timed out" in lowered or "timeout" in lowered:
        return f"the endpoint did not answer in time ({reason})"
    return reason


def _chain_text(exc: BaseException) -> str:
    return " | ".join(f"{type(err).__name__}: {err}" for err in list(exception_chain(exc))[:10])
