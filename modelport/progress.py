"""Progress on a terminal: shown on stderr only when it is a TTY and the user did not ask for quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Step messages and a one-line status, quiet when not a TTY, with ``--quiet``, or with ``--json``."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.quiet = quiet  # --quiet or --json: warnings too stay off the terminal (they are in the results)
        self._t0 = time.perf_counter()
        self._status_len = 0

    @classmethod
    def for_cli(cls, quiet: bool = False, as_json: bool = False) -> Progress:
        return cls(enabled=False, quiet=True) if quiet or as_json else cls()

    def warn(self, message: str) -> None:
        """A warning on its own line (never glued to a status line), shown off a terminal too, unless quiet."""
        if self.quiet:
            return
        self._clear_status()
        warn(message)

    def step(self, message: str) -> None:
        if not self.enabled:
            return
        self._clear_status()
        self.stream.write(f"[{time.perf_counter() - self._t0:6.1f}s] {message}\n")
        self.stream.flush()

    def status(self, message: str) -> None:
        """Overwrite the current status line (a spinner-free progress line)."""
        if not self.enabled:
            return
        line = f"\r  {message}"
        pad = max(0, self._status_len - len(line))
        self.stream.write(line + " " * pad)
        self.stream.flush()
        self._status_len = len(line)

    def done(self) -> None:
        self._clear_status()

    def _clear_status(self) -> None:
        if self._status_len:
            self.stream.write("\r" + " " * self._status_len + "\r")
            self._status_len = 0


def warn(message: str, quiet: bool = False) -> None:
    """A warning the user should see even when not on a TTY (unless quiet)."""
    if not quiet:
        sys.stderr.write(f"modelport: warning: {message}\n")
