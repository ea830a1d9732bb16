"""The package's layers point only down: no module imports from a layer above its own.

Every module under ``modelport/`` is parsed (``ast``, so imports inside functions count too, and nothing is
executed); each ``modelport`` import is mapped to the top-level part it lands in (``modelport.validators.session``
-> ``validators``) and checked against ``LAYERS``. The layers, top to bottom, are those of docs/architecture.md
("Layers"): a part may import from its own layer and the layers below it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modelport"

#: top to bottom; a part may import from its own layer and every layer below
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("commands",),
    ("benchmarks", "datasets"),  # datasets: MLPerf data set loaders; benchmarks uses them, never the reverse
    ("serving",),  # modelport serve: MLServer runtime, Triton repository; commands use it, benchmarks do not
    ("converters",),
    ("validators",),
    ("sources", "zoo", "opsets"),
    # the floor; "modelport" is the package's own __init__ (the version), pickle_scan and npzfile are helpers
    # the sources, runners and benchmarks share
    ("runners", "spec", "errors", "fsutil", "manifest", "environment", "progress", "pickle_scan", "npzfile",
     "modelport"),
]
#: leaf libraries: they import nothing from the rest of modelport, and only the named parts import them
LEAVES: dict[str, set[str]] = {"loadgen": {"benchmarks"}}

LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def part_of(module: str) -> str:
    """``modelport.x.y`` -> ``x``; the package itself -> ``modelport``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "modelport"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of a ``modelport`` module in ``path``, at any depth of the code."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                if node.module is None:  # `from . import checks, results`: each name is a module
                    found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
                    continue
                target = f"{base}.{node.module}"
            else:
                target = node.module or ""
            # `from modelport import zoo` imports the part `zoo`; `from modelport import __version__` the package
            if target == "modelport":
                found += [(node.lineno, f"modelport.{a.name}") if _is_part(a.name) else (node.lineno, target)
                          for a in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, m) for line, m in found if m == "modelport" or m.startswith("modelport.")]


def _is_part(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "csrc" not in p.parts)


def package_graph() -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> ["module:line", ...], across the package."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in modules():
        src = part_of(module_name(path))
        for line, target in imported_modules(path):
            dst = part_of(target)
            if dst != src:
                graph[src][dst].append(f"{module_name(path)}:{line}")
    return graph


def test_every_part_has_a_layer() -> None:
    parts = {part_of(module_name(p)) for p in modules()}
    unplaced = sorted(parts - set(LEVEL) - set(LEAVES))
    assert not unplaced, f"place these in LAYERS (or LEAVES) and in docs/architecture.md: {unplaced}"


def upward_imports(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """One line per import that breaks ``LAYERS`` or ``LEAVES``."""
    upward = []
    for src, targets in graph.items():
        for dst, where in targets.items():
            if src in LEAVES:
                upward += [f"{w} imports {dst} (the leaf {src} imports nothing from modelport)" for w in where]
            elif dst in LEAVES:
                if src not in LEAVES[dst]:
                    upward += [f"{w} imports the leaf {dst} (only {sorted(LEAVES[dst])} may)" for w in where]
            elif src in LEVEL and dst in LEVEL and LEVEL[dst] < LEVEL[src]:
                upward += [f"{w} imports {dst}, a layer above {src}" for w in where]
    return sorted(upward)


def test_imports_point_down() -> None:
    upward = upward_imports(package_graph())
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_the_check_catches_what_the_layers_forbid() -> None:
    graph = {"opsets": {"converters": ["modelport.opsets.convert:21"], "spec": ["modelport.opsets.feeds:3"]},
             "sources": {"zoo": ["modelport.sources.zoo:9"]},
             "converters": {"loadgen": ["modelport.converters.x:1"]},
             "loadgen": {"errors": ["modelport.loadgen:5"]}}
    assert upward_imports(graph) == [
        "modelport.converters.x:1 imports the leaf loadgen (only ['benchmarks'] may)",
        "modelport.loadgen:5 imports errors (the leaf loadgen imports nothing from modelport)",
        "modelport.opsets.convert:21 imports converters, a layer above opsets",
    ]


def test_no_cycles_between_parts() -> None:
    """Parts of one layer may use each other, but never both ways round (sources uses zoo; zoo not sources)."""
    graph = {src: set(targets) for src, targets in package_graph().items()}
    cycles = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph.get(b, ())})
    assert not cycles, f"parts that import each other: {cycles}"


@pytest.mark.parametrize("code, expected", [
    ("from modelport.validators.session import X", ["modelport.validators.session"]),
    ("def f():\n    import modelport.converters.pipeline as p", ["modelport.converters.pipeline"]),
    ("from modelport import zoo, __version__", ["modelport.zoo", "modelport"]),
    ("from . import checks\nfrom .results import R\nfrom ..spec import InputSpec",
     ["modelport.validators.checks", "modelport.validators.results", "modelport.spec"]),
    ("import numpy\nfrom typing import Any", []),
])
def test_the_parser_sees_every_form_of_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str,
                                              expected: list[str]) -> None:
    fake = tmp_path / "modelport"
    (fake / "validators").mkdir(parents=True)
    (fake / "zoo").mkdir()
    module = fake / "validators" / "compare.py"
    module.write_text(code)
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert [m for _, m in imported_modules(module)] == expected
