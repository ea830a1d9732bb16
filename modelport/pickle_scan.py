"""Read what a pickle would import, without unpickling it; word torch's weights-only refusals in one line.

Shared by every loader that meets pickles (torch.save files, .pt2 archives, Hugging Face .bin weights), so
that each refusal names the same thing the same way: the globals that loading would import and run.
"""

from __future__ import annotations

import io
import pickletools
import re

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_DETAIL = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", re.S)


def refused_globals(error: BaseException) -> list[str]:
    """The globals named in torch's weights-only refusal (``Unsupported global: GLOBAL os.system``, or a
    module on torch's blocklist such as ``posix``); empty when the refusal is about something else."""
    return sorted(set(_GLOBAL.findall(str(error))))


def refusal_reason(error: BaseException) -> str:
    """One line saying why a weights-only load failed, without torch's multi-paragraph advice."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    names = refused_globals(error)
    if names:
        return f"it names {', '.join(names)}"
    detail = _DETAIL.search(text)
    if detail:
        return " ".join(detail.group(1).split())[:200]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:200]


def raw_pickle_globals(data: bytes) -> list[str]:
    """Every ``module.name`` a pickle stream imports (GLOBAL, INST and STACK_GLOBAL), read without running it."""
    found: list[str] = []
    strings: list[str] = []  # STACK_GLOBAL takes the two most recent strings pushed (directly or via memo)
    memo: dict[int, str] = {}
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif isinstance(arg, str) and "UNICODE" in op.name:
                strings.append(arg)
            elif op.name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif op.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(arg, int) and arg in memo:
                strings.append(memo[arg])
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except (ValueError, EOFError):  # a damaged stream: what was read so far still counts
        pass
    return found
