"""Options and rendering shared by every command."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click

from modelport.fsutil import json_text


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(f)


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="No progress or tables on the terminal.")(f)


_emitted = False
_json_stream: TextIO | None = None  # where the JSON goes when file descriptor 1 is lent to stderr


def emit_json(obj: Any) -> None:
    global _emitted
    _emitted = True
    stream = _json_stream or sys.stdout
    stream.write(json_text(obj))
    stream.flush()


@contextlib.contextmanager
def stdout_for_json_only() -> Iterator[None]:
    """Keep the real stdout for the one JSON document: file descriptor 1 points at stderr meanwhile, so what
    model code or a native library writes there (``os.write(1, ...)``, C++ ``printf``) cannot corrupt it. Only
    when sys.stdout is the process's own stdout (under a test's capture it is not, and nothing changes)."""
    global _json_stream
    try:
        real = sys.stdout is sys.__stdout__ and sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    _json_stream = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    try:
        yield
    finally:
        _json_stream.flush()
        _json_stream.close()
        _json_stream = None
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def reset_json_emitted() -> None:
    global _emitted
    _emitted = False


def json_emitted() -> bool:
    """Whether this process already printed its JSON object (a failing validate prints its report first)."""
    return _emitted
