"""Localization: the first ONNX node whose output leaves the eager model's, and the torch module it came from.

Polygraphy marks every ONNX tensor as an output and compares it with another ONNX runtime's; here the other side
is the eager module itself. Every submodule's output is captured with a forward hook; every ONNX node is placed
in the module path its exporter recorded (``localize_graph.node_scope``); a module's ONNX output is the tensor
its nodes hand to nodes outside it; the N-th such tensor is paired with the N-th call of the module. Pairs are
compared in the graph's topological order with the artifact's tolerance, and the first that fails is the
divergence (docs/decisions.md, "Localization: nodes to modules").

A module the exporter folded away (BatchNorm into the Conv before it, Dropout in eval) has no ONNX nodes: the
module whose output feeds it directly is compared with the folded module's output instead, and the report says
so. Tensors that are no module's output (a functional ``x + y`` inside a block) are not compared: the block's
output still is, so a divergence there is caught one step later, at the block.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from modelport.runners import RunnerOptions
from modelport.runners.torch_runners import TorchModuleRunner
from modelport.spec import InputSpec
from modelport.validators.compare import compare_arrays
from modelport.validators.localize_graph import GraphInfo, load_graph, node_scope, run_marked
from modelport.validators.results import OutputComparison

#: 1 - cosine below this is rounding, not a different function: the error's norm is under 1.4e-4 of the tensor's.
#: Deep fp32 graphs exceed an output-sized atol inside (ResNet-50, layer4: 105.3695 vs 105.3683, 1 - cosine 5e-13);
#: a changed weight gives 1e-3 and more (docs/decisions.md, "Localization: nodes to modules").
ROUNDING = 1e-8


@dataclass
class _Call:
    """One call of one submodule in the eager run."""

    name: str
    cls: str
    index: int  # the how-many-th call of this module
    order: int  # completion order over all calls
    out: np.ndarray | None
    out_id: int | None
    in_id: int | None


@dataclass
class Pair:
    """An ONNX tensor and the eager module output it must equal."""

    tensor: str
    node: str
    op: str
    module: str
    module_class: str
    call: int
    folded: list[str]  # "features.1 (BatchNorm2d)": modules with no ONNX nodes whose output this tensor is
    reads: list[str]  # modules whose parameters the node reads by name (the dynamo exporter keeps the names)
    eager: np.ndarray
    depth: int

    def describe(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "node": self.node, "op": self.op, "module": self.module,
                "module_class": self.module_class, "call": self.call, "folded": self.folded, "reads": self.reads}


@dataclass
class Localization:
    """Where an ONNX artifact first leaves the eager model on one input set."""

    artifact: str
    input_set: str
    atol: float
    rtol: float
    compared: int = 0  # module outputs compared
    first: dict[str, Any] | None = None  # Pair.describe() + "comparison"
    upstream: dict[str, Any] | None = None  # the last module output before it (an ancestor) that matched
    unpaired_modules: list[str] = field(default_factory=list)  # node counts and call counts disagree
    #: module outputs before ``first`` beyond the tolerance at rounding level only (``rounding_level``)
    rounding: list[dict[str, Any]] = field(default_factory=list)
    ort_graph_optimization_level: str = "disabled"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line: the divergent node and module, or that every compared output matched."""
        if self.first is None:
            return f"artifact {self.artifact!r}: all {self.compared} module outputs compared match the eager model"
        f, c = self.first, self.first["comparison"]
        return (f"first divergence of {self.artifact!r}: ONNX node {f['node']} ({f['op']}), torch module "
                f"{_module_text(f)}: max abs {_g(c['max_abs'])}, cosine {_cos(c['cosine'])}")

    def render(self) -> str:
        """The readable block for the terminal."""
        lines = [f"localization of {self.artifact} on input set {self.input_set!r} ({self.compared} module outputs "
                 f"compared in topological order, atol {_g(self.atol)}, rtol {_g(self.rtol)}):"]
        if self.first is None and self.rounding:
            r = self.rounding[0]
            lines.append(f"  no divergence beyond rounding: {len(self.rounding)} module outputs exceed the tolerance "
                         f"with 1 - cosine < {ROUNDING:g}, first ONNX node {r['node']} ({r['op']}), module "
                         f"{_module_text(r)}, max abs {_g(r['max_abs'])}")
        elif self.first is None:
            lines.append("  no divergence: every compared module output matches")
        else:
            f, c = self.first, self.first["comparison"]
            lines += [f"  first divergence: ONNX node {f['node']} ({f['op']}) -> tensor {f['tensor']!r}",
                      f"    torch module: {_module_text(f)}",
                      f"    max abs {_g(c['max_abs'])}, max rel {_g(c['max_rel'])}, cosine {_cos(c['cosine'])} "
                      f"({c['mismatched']}/{c['total']} elements exceed both tolerances)"]
            u = self.upstream
            lines.append(f"  last match upstream: ONNX node {u['node']} ({u['op']}), module {_module_text(u)}, "
                         f"max abs {_g(u['max_abs'])}" if u else "  no compared module output upstream of it")
        if self.unpaired_modules:
            more = " ..." if len(self.unpaired_modules) > 5 else ""
            lines.append(f"  not compared ({len(self.unpaired_modules)} modules whose calls and ONNX outputs do not "
                         f"pair up): {', '.join(self.unpaired_modules[:5])}{more}")
        return "\n".join(lines)


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _cos(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.7f}"  # 0.9999 and 0.99999999 differ by a bug, not by rounding


def _module_text(d: dict[str, Any]) -> str:
    text = f"{d['module']} ({d['module_class']})" + (f", call {d['call'] + 1}" if d.get("call") else "")
    if d.get("folded"):
        text += f", with {', '.join(d['folded'])} folded into it"
    if d.get("reads") and d["reads"] != [d["module"]]:
        text += f"; reads the parameters of {', '.join(d['reads'])}"
    return text


def capture_calls(module: nn.Module, specs: list[InputSpec], feed: dict[str, np.ndarray],
                  threads: int | None = None) -> list[_Call]:
    """Run ``module`` once on ``feed`` with a forward hook on every submodule; every call's output, in order."""
    calls: list[_Call] = []
    counts: dict[str, int] = {}
    alive: list[object] = []  # tensors stay referenced so that id() names one tensor for the whole run

    def hook_for(name: str):
        def hook(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            tensor = out if isinstance(out, torch.Tensor) else None
            alive.extend([first, tensor])
            index = counts.get(name, 0)
            counts[name] = index + 1
            # copied now: an in-place module later in the run (ReLU(inplace=True)) overwrites this tensor
            arr = tensor.detach().cpu().numpy().copy() if tensor is not None else None
            calls.append(_Call(name, type(mod).__name__, index, len(calls), arr,
                               id(tensor) if tensor is not None else None, id(first) if first is not None else None))
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in module.named_modules() if n]
    try:
        TorchModuleRunner(module, [s.name for s in specs], [], RunnerOptions(threads=threads)).infer(feed)
    finally:
        for h in handles:
            h.remove()
    return calls


def _unqualified(qualified: str) -> str:
    """The TorchScript-based exporter's scope name of a module: from the last non-numeric atom on
    (``layer1.0.conv1`` -> ``conv1``, ``features.0`` -> ``features.0``), as torch.onnx.utils writes it."""
    atoms = qualified.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isnumeric():
            return ".".join(atoms[i:])
    return qualified


def _reachable(current: str, children: dict[str, list[str]], containers: set[str]) -> list[str]:
    """Modules a scope can name below ``current``: its children, and through a container that is never called
    (``nn.ModuleList`` iterated in forward: the scope goes ``/layers.0/``, straight from the root) its items."""
    out = []
    for c in children.get(current, []):
        out.append(c)
        if c in containers:
            out += _reachable(c, children, containers)
    return out


def _resolve(scope: list[str], children: dict[str, list[str]], containers: set[str]) -> list[str]:
    """The qualified module names along ``scope`` (outermost first), as far as they resolve."""
    chain: list[str] = []
    current = ""
    for seg in scope:
        bare = re.sub(r"_\d+$", "", seg)  # '/relu_1/': the second call of module 'relu'
        below = _reachable(current, children, containers)
        match = next((c for c in below if seg in (c, _unqualified(c), c.rsplit(".", 1)[-1])), None) or next(
            (c for c in below if bare in (c, _unqualified(c))), None)
        if match is None:
            break
        chain.append(match)
        current = match
    return chain


def _boundary(info: GraphInfo, members: set[int]) -> list[str]:
    """Tensors the nodes in ``members`` hand to nodes outside them (or to the graph's outputs), in order."""
    outs = []
    for i in sorted(members):
        for name in info.nodes[i].output:
            if name and (name in info.graph_outputs or any(c not in members for c in info.consumers.get(name, []))):
                outs.append(name)
    return outs


def _follow(call: _Call, calls: list[_Call], skip: set[str]) -> tuple[_Call, list[str]]:
    """The call whose output ``call``'s ONNX tensor is: through modules with no ONNX nodes fed directly by it.

    ``skip``: modules that have nodes, modules with submodules (only a leaf such as BatchNorm or Dropout
    folds), and modules whose parameters a node reads by name: the dynamo exporter
    fuses a Conv into the BatchNorm after it and keeps ``conv.weight``'s name, so that Conv was folded into the
    module downstream, not into the one before it; the TorchScript-based exporter folds BatchNorm into the Conv
    before it and renames the folded weights (``onnx::Conv_28``).
    """
    folded: list[str] = []
    while call.out_id is not None:
        nxt = next((c for c in calls if c.order > call.order and c.in_id == call.out_id and c.name not in skip
                    and c.out is not None), None)
        if nxt is None:
            break
        folded.append(f"{nxt.name} ({nxt.cls})")
        call = nxt
    return call, folded


def pair_tensors(info: GraphInfo, module: nn.Module, calls: list[_Call]) -> tuple[list[Pair], list[str]]:
    """Every ONNX tensor that is some module call's output, with that output; and the modules left unpaired."""
    names = {n for n, _ in module.named_modules() if n}
    containers = {n for n, m in module.named_modules() if isinstance(m, (nn.ModuleList, nn.ModuleDict))}
    leaves = {n for n, m in module.named_modules() if n and next(m.children(), None) is None}
    children: dict[str, list[str]] = {}
    for name in sorted(names):  # the parent of 'layer1.0.conv1' is 'layer1.0', of 'features.0' 'features'
        parent = next((p for p in (name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)) if p in names), "")
        children.setdefault(parent, []).append(name)
    params = {n.rsplit(".", 1)[0] for n, _ in module.named_parameters() if "." in n}
    named = {i.rsplit(".", 1)[0] for i in info.initializers} & params
    groups: dict[str, set[int]] = {}
    depth: dict[str, int] = {}
    for i, node in enumerate(info.nodes):
        for d, q in enumerate(_resolve(node_scope(node), children, containers)):
            groups.setdefault(q, set()).add(i)
            depth[q] = d
    by_module: dict[str, list[_Call]] = {}
    for c in calls:
        by_module.setdefault(c.name, []).append(c)
    pairs: dict[str, Pair] = {}
    unpaired = []
    for q, members in groups.items():
        bound, mine = _boundary(info, members), by_module.get(q, [])
        if len(bound) != len(mine):
            unpaired.append(q)
            continue
        for tensor, call in zip(bound, mine, strict=True):
            target, folded = _follow(call, calls, set(groups) | named | (names - leaves))
            node = info.nodes[info.producer[tensor]]
            if target.out is None or (tensor in pairs and pairs[tensor].depth >= depth[q]):
                continue
            reads = sorted({n.rsplit(".", 1)[0] for n in node.input if n.rsplit(".", 1)[0] in params})
            pairs[tensor] = Pair(tensor, node.name or tensor, node.op_type, q, call.cls, call.index, folded, reads,
                                 target.out, depth[q])
    return sorted(pairs.values(), key=lambda p: info.producer[p.tensor]), sorted(unpaired)


def localize_onnx(module: nn.Module, specs: list[InputSpec], feed: dict[str, np.ndarray], path: str,
                  artifact: str, input_set: str, atol: float, rtol: float, threads: int | None = None) -> Localization:
    """Compare every module output of ``module`` with its ONNX tensor in ``path``; the first that differs."""
    info = load_graph(path)
    pairs, unpaired = pair_tensors(info, module, capture_calls(module, specs, feed, threads))
    onnx_values = run_marked(info, feed, threads)
    result = Localization(artifact, input_set, atol, rtol, unpaired_modules=unpaired)
    judged: list[tuple[Pair, OutputComparison]] = []
    for p in pairs:
        got = onnx_values.get(p.tensor)
        if got is None or got.shape != p.eager.shape or not np.issubdtype(got.dtype, np.floating):
            continue
        comp = compare_arrays(p.tensor, p.eager, got.astype(p.eager.dtype, copy=False), atol, rtol)
        judged.append((p, comp))
        if comp.passed:
            continue
        if rounding_level(comp):
            result.rounding.append({**p.describe(), "max_abs": comp.max_abs, "cosine": comp.cosine})
            continue
        result.first = {**p.describe(), "comparison": comp.to_json()}
        before = info.ancestors(p.tensor)
        up = next(((q, c) for q, c in reversed(judged[:-1])
                   if (c.passed or rounding_level(c)) and q.tensor in before), None)
        if up is not None:
            result.upstream = {**up[0].describe(), "max_abs": up[1].max_abs, "cosine": up[1].cosine}
        break
    result.compared = len(judged)
    return result


def rounding_level(comp: OutputComparison) -> bool:
    """Beyond the tolerance, but only as fp32 accumulation order moves values: 1 - cosine below ``ROUNDING``."""
    return comp.failed_on == "values" and comp.cosine is not None and 1.0 - comp.cosine < ROUNDING
