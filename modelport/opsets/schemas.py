"""An index over ``onnx.defs``: every schema version of every operator, built once per process.

Everything the ``opsets`` package says about operators comes from here, i.e. from the installed onnx,
never from a hand-written table.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import onnx
import onnx.defs

from modelport.errors import InputError

DEFAULT_DOMAIN = ""
ML_DOMAIN = "ai.onnx.ml"
# Domains whose operators onnx itself defines; everything else (com.microsoft, pkg.onnxscript.torch_lib, ...)
# is a custom domain that onnx cannot judge.
_ALIASES = {"": "", "ai.onnx": "", "default": "", "onnx": ""}


def normalize_domain(domain: str | None) -> str:
    """Map the spellings of the default domain ("", "ai.onnx", "default") to ""."""
    d = (domain or "").strip()
    return _ALIASES.get(d.lower(), d)


def display_domain(domain: str) -> str:
    return domain or "ai.onnx"


@dataclass(frozen=True)
class _Index:
    # (domain, op) -> schemas sorted by since_version
    by_op: dict[tuple[str, str], tuple[onnx.defs.OpSchema, ...]]
    # domain -> (min opset, max opset) the installed onnx knows
    domain_range: dict[str, tuple[int, int]]


@functools.cache
def _index() -> _Index:
    by_op: dict[tuple[str, str], list[onnx.defs.OpSchema]] = {}
    for s in onnx.defs.get_all_schemas_with_history():
        by_op.setdefault((s.domain, s.name), []).append(s)
    frozen = {k: tuple(sorted(v, key=lambda s: s.since_version)) for k, v in by_op.items()}
    ranges = {d: (int(lo), int(hi)) for d, (lo, hi) in onnx.defs.C.schema_version_map().items()}
    return _Index(frozen, ranges)


def known_domains() -> list[str]:
    return sorted(_index().domain_range)


def is_standard_domain(domain: str) -> bool:
    return normalize_domain(domain) in _index().domain_range


def max_known_opset(domain: str = DEFAULT_DOMAIN) -> int:
    """The highest opset of ``domain`` the installed onnx knows (``onnx.defs.onnx_opset_version()`` for ai.onnx)."""
    d = require_domain(domain)
    if d == DEFAULT_DOMAIN:
        return int(onnx.defs.onnx_opset_version())
    return _index().domain_range[d][1]


def require_domain(domain: str | None) -> str:
    d = normalize_domain(domain)
    if d not in _index().domain_range:
        known = ", ".join(display_domain(x) for x in known_domains())
        raise InputError(f"unknown operator domain {domain!r} (onnx {onnx.__version__} knows: {known})",
                         "custom domains such as com.microsoft are not described by onnx")
    return d


def require_opset(opset: int, domain: str = DEFAULT_DOMAIN, what: str = "opset", lowest: int = 1) -> int:
    d = require_domain(domain)
    hi = max_known_opset(d)
    if not lowest <= int(opset) <= hi:
        raise InputError(f"{what} {opset} of {display_domain(d)} is outside what the installed onnx "
                         f"{onnx.__version__} knows ({lowest}..{hi})",
                         "pick an opset in that range or upgrade onnx")
    return int(opset)


def ops(domain: str = DEFAULT_DOMAIN) -> list[str]:
    d = require_domain(domain)
    return sorted(op for (dom, op) in _index().by_op if dom == d)


def schemas(op: str, domain: str = DEFAULT_DOMAIN) -> tuple[onnx.defs.OpSchema, ...]:
    """Every schema version of ``op`` in ``domain``, oldest first; InputError if onnx has no such op."""
    d = require_domain(domain)
    found = _index().by_op.get((d, op))
    if found is None:
        names = ops(d)
        close = [n for n in names if n.lower() == op.lower()] or difflib.get_close_matches(op, names, n=3)
        dom = f" --domain {d}" if d else ""
        hint = (f"did you mean {', '.join(close)}?" if close
                else f"run 'modelport opsets diff 0 {max_known_opset(d)}{dom}' to list every operator")
        raise InputError(f"onnx {onnx.__version__} has no operator {op!r} in domain {display_domain(d)}", hint)
    return found


def schema_at(op: str, opset: int, domain: str = DEFAULT_DOMAIN) -> onnx.defs.OpSchema | None:
    """The schema in force for ``op`` at ``opset`` (greatest since_version <= opset), None if none yet.

    A deprecated schema is returned as is; callers decide what deprecation means for them.
    """
    best = None
    for s in schemas(op, domain):
        if s.since_version <= opset:
            best = s
        else:
            break
    return best


def lookup(op: str, domain: str) -> tuple[onnx.defs.OpSchema, ...] | None:
    """Like ``schemas`` without raising: None for unknown ops or domains."""
    return _index().by_op.get((normalize_domain(domain), op))


def ml_opset_for(default_opset: int) -> int:
    """The ai.onnx.ml opset released together with ai.onnx opset ``default_opset``."""
    best = 1
    for row in onnx.helper.VERSION_TABLE:
        if row[2] <= default_opset:
            best = max(best, int(row[3]))
    return best


def type_strings(types: Iterable[str]) -> list[str]:
    """Short, sorted type names: 'tensor(float)' -> 'float'; non-tensor types stay as written."""
    out = []
    for t in types:
        out.append(t[len("tensor("):-1] if t.startswith("tensor(") and t.endswith(")") else t)
    return sorted(out)
