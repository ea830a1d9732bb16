"""Errors a user can act on.

Every failure a user can cause is a ``ModelportError``: the CLI (and only the CLI) prints its message on one
line and exits with its ``exit_code``; no traceback unless ``--debug``. Library callers catch the subclasses.
This module is the floor of the package: it depends on nothing, the CLI framework included.
"""

from __future__ import annotations


class ModelportError(Exception):
    """A failure with a one-line message naming the problem and, where there is one, the way out."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        text = message if not hint else f"{message}; {hint}"
        self.message = " ".join(text.split("\n"))
        super().__init__(self.message)
        self.hint = hint

    def format_message(self) -> str:
        """The one-line message the CLI prints after ``modelport: error:``."""
        return self.message


class InputError(ModelportError):
    """The user's input (file, flag, spec) is unusable."""

    exit_code = 2


class UnsafePickleError(InputError):
    """A file needs unpickling arbitrary code and the user has not opted in."""


class ExportError(ModelportError):
    """An exporter failed or produced an artifact we refuse to ship."""

    exit_code = 3


class ValidationFailed(ModelportError):
    """An artifact is not numerically the same model as its reference."""

    exit_code = 4


class RegressionError(ModelportError):
    """A benchmark metric regressed beyond the tolerance against a baseline."""

    exit_code = 5
