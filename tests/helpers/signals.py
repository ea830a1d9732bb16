"""Children that the tests interrupt must start with SIGINT at its default."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child the test sends SIGINT: a shell's background job (CI runners, ``cmd &``) starts
    with SIGINT ignored, the child inherits that, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
