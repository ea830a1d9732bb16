"""Keep exporter chatter off the terminal and collect its warnings for the manifest.

torch's exporters print to stdout (the dynamo exporter's ``[torch.onnx] ...`` steps, the TorchScript
exporter's IR dump on failure) and log to stderr; with ``--json`` stdout must hold only our JSON object.
So every exporter call runs inside ``capture()``, which redirects both file descriptors and Python's
streams to a temporary file and records warnings.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

#: warnings every call of a deprecated-but-supported API emits; they say nothing about this model
_NOISE = (
    "is deprecated. Please switch to",
    "legacy TorchScript-based ONNX export",
    "isinstance(treespec, LeafSpec)",
    "torch.jit.load",
    "TypedStorage is deprecated",
    "since it shares the same shape constraints with another axis",
)


@dataclass
class Captured:
    text: str = ""
    warnings: list[str] = field(default_factory=list)


def _keep(w: warnings.WarningMessage) -> bool:
    # Deprecation notices are about the APIs modelport calls, not about the user's model
    if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
        return False
    msg = str(w.message)
    return not any(n in msg for n in _NOISE)


def format_warning(w: warnings.WarningMessage, limit: int = 400) -> str:
    text = " ".join(str(w.message).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{w.category.__name__}: {text}"


@contextlib.contextmanager
def capture() -> Iterator[Captured]:
    result = Captured()
    sys.stdout.flush()
    sys.stderr.flush()
    saved: list[tuple[int, int]] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            except OSError:  # no such descriptor (embedded use): Python-level redirection still applies
                pass
        sink_text = open(sink.fileno(), "w", closefd=False)  # noqa: SIM115 - closed below
        try:
            with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sink_text), \
                    contextlib.redirect_stderr(sink_text):
                warnings.simplefilter("always")
                try:
                    yield result
                finally:
                    seen: set[str] = set()
                    for w in caught:
                        if _keep(w):
                            text = format_warning(w)
                            if text not in seen:
                                seen.add(text)
                                result.warnings.append(text)
        finally:
            sink_text.flush()
            sink_text.close()
            for fd, dup in saved:
                os.dup2(dup, fd)
                os.close(dup)
            sink.seek(0)
            result.text = sink.read().decode("utf-8", "replace")


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of an error text, trimmed; exporter messages are long and multi-line."""
    for line in str(text).splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""
