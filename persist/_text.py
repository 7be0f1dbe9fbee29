"""Error text helpers: masking secrets and naming a backend's reason in one short phrase."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["MASK", "backend_reason", "exception_chain", "redact"]

MASK = "[secure]"
"""What persist writes in place of a secret."""


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its cause or context, and so on, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_SIGNATURE = re.compile(
    r"(?i)\b(sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|"
    r"x-goog-signature|x-goog-credential|accountkey|sharedaccesssignature)=[^&;\s'\"]+"
)
# The password of ``scheme://user:password@host``, wherever a URL reaches error text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/@:\s'\"]*):[^/@\s'\"]*@")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value, signatures in URLs and passwords in URLs with the mask."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return _SIGNATURE.sub(lambda m: f"{m.group(1)}={MASK}", text)


_XML_CODE = re.compile(r"<Code>(\w+)</Code>")


def backend_reason(exc: BaseException) -> str:
    """A short reason for a backend failure: an error code where there is one, else the message."""
    for err in exception_chain(exc):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        code = getattr(err, "error_code", None)
        if isinstance(code, str) and code:
            return code
    code = _XML_CODE.search(str(exc))
    if code:
        return code.group(1)
    first = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        first = exc.strerror
    return first[:300]
