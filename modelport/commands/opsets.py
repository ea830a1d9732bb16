"""``modelport opsets``: operator versions (show, diff), a model's opsets (check) and conversion (convert)."""

from __future__ import annotations

from pathlib import Path

import click

from modelport import opsets as lib
from modelport.commands.common import emit_json, json_option, quiet_option
from modelport.errors import InputError, ValidationFailed
from modelport.opsets import schemas as sx
from modelport.opsets.check import format_ranges, unknown_op_problem
from modelport.opsets.history import VersionChange
from modelport.progress import Progress


@click.group()
def opsets() -> None:
    """ONNX operator versions, from the installed onnx: show, diff, check, convert."""


def _items(c: VersionChange, verbose: bool) -> list[str]:
    out = []
    for it in c.items:
        if it.kind == "type_constraint":
            continue
        if it.kind == "doc_changed" and not verbose:
            continue
        out.append(it.detail + (" [doc text]" if it.derived == "text" and it.kind != "no_structural_change"
                                else ""))
    return out


@opsets.command()
@click.argument("op")
@click.option("--domain", default="", help="Operator domain (default ai.onnx; e.g. ai.onnx.ml).")
@click.option("--verbose", "-v", is_flag=True, help="Also list operator-description changes.")
@json_option
def show(op: str, domain: str, verbose: bool, as_json: bool) -> None:
    """Every schema version of OP and what changed at each."""
    h = lib.op_history(op, domain)
    if as_json:
        emit_json(h.to_dict())
        return
    click.echo(f"{op} ({sx.display_domain(h.domain)}): versions {', '.join(map(str, h.versions))}"
               + (f"; deprecated since {h.deprecated_since}" if h.deprecated_since else ""))
    shown_text = False
    for c in h.changes:
        lines = _items(c, verbose) if c.previous is not None else [
            it.detail for it in c.items if it.kind in ("introduced", "type_constraint", "deprecated")]
        shown_text |= any(line.endswith("[doc text]") for line in lines)
        head = f"  {c.version:>3}"
        for i, line in enumerate(lines):
            click.echo(f"{head if i == 0 else ' ' * len(head)}  {line}")
    if shown_text:
        click.echo("  ([doc text]: only onnx's description changed; the schema fields are identical)")


@opsets.command("diff")
@click.argument("start", type=int)
@click.argument("end", type=int)
@click.option("--domain", default=None, help="Only this domain, with START/END in its own opset numbers.")
@click.option("--verbose", "-v", is_flag=True, help="Also list operator-description changes.")
@json_option
def diff_cmd(start: int, end: int, domain: str | None, verbose: bool, as_json: bool) -> None:
    """Operators added, changed and removed in opsets (START, END]; START 0 lists every operator."""
    d = lib.diff(start, end, [domain] if domain is not None else None)
    if as_json:
        emit_json(d.to_dict())
        return
    ranges = "; ".join(f"{sx.display_domain(k)} ({a}, {b}]" for k, (a, b) in d.ranges.items())
    click.echo(f"opset changes in {ranges}")
    for title, group in (("added", d.added), ("changed", d.changed), ("removed (deprecated)", d.removed)):
        click.echo(f"{title}: {len(group)}")
        for c in group:
            name = f"{c.op}-{c.version}" + (f" [{c.domain}]" if c.domain else "")
            lines = _items(c, verbose) if title != "added" else ["new operator"]
            click.echo(f"  {name:<32} " + (lines[0] if lines else ""))
            for line in lines[1:]:
                click.echo(f"  {'':<32} {line}")


@opsets.command()
@click.argument("model", type=click.Path(dir_okay=True, path_type=str))
@click.option("--target", type=int, default=None, help="Say whether every node is valid at this ai.onnx opset.")
@click.option("--no-confirm", is_flag=True, help="Skip confirming the minimum with onnx.checker.")
@json_option
@quiet_option
@click.pass_context
def check(ctx: click.Context, model: str, target: int | None, no_confirm: bool, as_json: bool,
          quiet: bool) -> None:
    """Per op, the schema version in force, the model's true minimum opset, and validity at --target."""
    r = lib.check_model(model, target=target, confirm=not no_confirm)
    if as_json:
        emit_json(r.to_dict())
    elif not quiet:
        imports = ", ".join(f"{sx.display_domain(k)} {v}" for k, v in r.opset_imports.items())
        click.echo(f"{r.source}: ir_version {r.ir_version}; opsets {imports}")
        click.echo(f"{'op':<28}{'nodes':>6}{'in force':>10}{'first':>7}{'min':>6}  valid at")
        for u in r.ops:
            name = u.op + (f" [{u.domain}]" if u.domain else "")
            click.echo(f"{name:<28}{u.count:>6}{u.in_force or '-':>10}{u.first_version:>7}"
                       f"{u.min_opset or '-':>6}  {format_ranges(u.valid_opsets)}")
            if u.min_opset and u.min_opset > u.first_version:
                for why in u.why_not_lower:
                    click.echo(f"{'':<30}needs {u.min_opset}: {why}")
        if r.unknown_ops:
            click.echo("unknown ai.onnx ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(r.unknown_ops.items())))
        for dom, ops in r.custom.items():
            click.echo(f"custom domain {dom} (not judged): " + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
        if r.min_opset is None:
            click.echo("minimum ai.onnx opset: none: no single opset accepts every node")
        else:
            how = "confirmed by onnx.checker" if r.confirmed else "from schema analysis, not confirmed by onnx.checker"
            click.echo(f"minimum ai.onnx opset: {r.min_opset} ({how}; naive lower bound {r.lower_bound}; "
                       f"needs ir_version >= {r.min_ir_version})")
            click.echo(f"valid ai.onnx opsets: {format_ranges(r.valid_opsets.get('', []))}")
        for note in r.notes:
            click.echo(f"note: {note}")
        click.echo("(valid = every node matches its schema (attributes, input/output counts, types) and "
                   "onnx.checker accepts the model; behaviour changes onnx documents only in prose, such as "
                   "ArgMin-11 accepting a negative axis, are not detected)")
        if target is not None:
            if r.target_ok:
                click.echo(f"target opset {target}: valid")
            else:
                click.echo(f"target opset {target}: NOT valid")
                for p in r.target_problems:
                    click.echo(f"  {p}")
                if r.target_checker:
                    click.echo(f"  onnx.checker: {r.target_checker}")
    if r.unknown_ops:
        first, count = sorted(r.unknown_ops.items())[0]
        more = f" (+{len(r.unknown_ops) - 1} more)" if len(r.unknown_ops) > 1 else ""
        raise ValidationFailed(f"{model} is valid at no opset: {unknown_op_problem(first, count)}{more}",
                               "a custom op belongs in its own domain (node.domain), not in ai.onnx")
    if target is not None and not r.target_ok:
        first = r.target_problems[0] if r.target_problems else (r.target_checker or "onnx.checker rejects it")
        more = f" (+{len(r.target_problems) - 1} more)" if len(r.target_problems) > 1 else ""
        raise ValidationFailed(f"{model} is not valid at opset {target}: {first}{more}",
                               f"its valid opsets: {format_ranges(r.valid_opsets.get('', [])) or 'none'}")


@opsets.command("convert")
@click.argument("model", type=click.Path(path_type=str))
@click.option("--opset", "opset", type=int, required=True, help="Target ai.onnx opset.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=str), required=True,
              help="Where to write the converted model (written only if it validates).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed for the generated inputs.")
@click.option("--atol", type=float, default=None,
              help="Absolute tolerance for float outputs [default: per dtype, fp32 1e-5, fp16 1e-3, fp64 1e-7].")
@click.option("--rtol", type=float, default=None, help="Relative tolerance for float outputs [default: as --atol].")
@click.option("--no-compare", is_flag=True, help="Skip the numeric comparison (checker and ORT still run).")
@json_option
@quiet_option
def convert_cmd(model: str, opset: int, out: str, seed: int, atol: float | None, rtol: float | None,
                no_compare: bool, as_json: bool, quiet: bool) -> None:
    """Convert MODEL to --opset with onnx.version_converter; write --out only if it validates."""
    from modelport.converters.opset_convert import convert_opset

    for flag, value in (("--atol", atol), ("--rtol", rtol)):
        if value is not None and not 0 <= value < float("inf"):
            raise InputError(f"{flag} must be a finite number >= 0, got {value}")
    if Path(out).exists():  # as convert, compare and submission: an earlier result is never overwritten
        raise InputError(f"--out {out!r} already exists", "choose another path, or remove it first")
    progress = Progress.for_cli(quiet, as_json)
    r = convert_opset(model, opset, out, seed=seed, atol=atol, rtol=rtol, compare=not no_compare,
                      progress=progress.step)
    progress.done()
    if as_json:
        emit_json(r.to_dict())
        return
    if quiet:
        return
    click.echo(f"{r.source}: opset {r.from_opset} -> {r.to_opset} in {r.convert_seconds * 1000:.1f} ms; "
               f"checker {r.checker}; onnxruntime {r.onnxruntime}")
    if r.ops_changed:
        click.echo("schema versions changed: " + ", ".join(f"{c['op']} {c['from']}->{c['to']}" for c in r.ops_changed))
    for o in r.outputs:
        click.echo(f"  output {o.name}: max abs {o.max_abs or 0:.3g}, max rel {o.max_rel or 0:.3g} "
                   f"({'ok' if o.passed else 'FAIL'})")
    for n in r.notes:
        click.echo(f"note: {n}")
    click.echo(f"wrote {r.out}")
