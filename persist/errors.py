"""The exceptions persist raises.

The hierarchy::

    * PersistError
      x ConfigError(ValueError)          bad config: which file or env var, dotted field, what is allowed
      x InvalidInputError(ValueError)    bad argument: missing source, symlink, name escaping its prefix
      x DataNotFoundError(FileNotFoundError)
      x UploadError                      an upload failed; ``__cause__`` holds the backend error
      x DownloadError                    a download failed; ``__cause__`` holds the backend error

Each class also derives from the builtin that fits, so existing ``except ValueError:`` and
``except FileNotFoundError:`` blocks keep working.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "DataNotFoundError",
    "DownloadError",
    "InvalidInputError",
    "PersistDeprecationWarning",
    "PersistError",
    "UploadError",
]


class PersistError(Exception):
    """Base class of every error persist raises on purpose."""

    exit_code: ClassVar[int] = 1
    """The exit status the ``persist`` command uses for this error."""


class ConfigError(PersistError, ValueError):
    """Configuration that cannot be used.

    ``str(err)`` is ``"SOURCE: dotted.field: message"``, one line per problem, where SOURCE is
    the file path or environment variable the value came from. The text never holds a secret.
    """

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        self.problems: list[ConfigError] = [self]
        super().__init__(self._line())

    def _line(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join([*parts, self.message])

    @classmethod
    def from_problems(cls, problems: list[ConfigError]) -> ConfigError:
        """Merge several problems into one error whose text lists each on its own line."""
        if len(problems) == 1:
            return problems[0]
        first = problems[0]
        err = cls(first.source, first.field, first.message)
        err.problems = list(problems)
        err.args = ("\n".join(p._line() for p in problems),)
        return err

    def __str__(self) -> str:
        return "\n".join(p._line() for p in self.problems)


class InvalidInputError(PersistError, ValueError):
    """An argument persist cannot act on: a missing source, a symlink, a name that escapes."""


class DataNotFoundError(PersistError, FileNotFoundError):
    """The source of a transfer or lookup does not exist."""


class UploadError(PersistError):
    """An upload failed; the backend's error is chained as ``__cause__``."""


class DownloadError(PersistError):
    """A download failed; the backend's error is chained as ``__cause__``."""


class PersistDeprecationWarning(FutureWarning):
    """A deprecated config key or name (such as ``s3.adressing_style``).

    A ``FutureWarning``, so Python shows it by default: it concerns config files that the
    people running the program maintain, not only the code's authors.
    """
