"""Options and rendering shared by every command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from modelport.fsutil import json_text


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(f)


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="No progress or tables on the terminal.")(f)


_emitted = False


def emit_json(obj: Any) -> None:
    global _emitted
    _emitted = True
    sys.stdout.write(json_text(obj))
    sys.stdout.flush()


def reset_json_emitted() -> None:
    global _emitted
    _emitted = False


def json_emitted() -> bool:
    """Whether this process already printed its JSON object (a failing validate prints its report first)."""
    return _emitted
