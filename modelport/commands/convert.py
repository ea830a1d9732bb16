"""``modelport convert``: export a PyTorch model to TorchScript, ONNX and .pt2, into a checked run directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from modelport.commands.common import emit_json, json_option, quiet_option
from modelport.errors import InputError
from modelport.progress import Progress, warn


class _TaskChoice(click.Choice):  # type: ignore[type-arg]
    """click.Choice of the Hugging Face task names, read from modelport.sources.hf_tasks only when a value is
    checked (that package imports torch, which ``--help`` must not)."""

    def __init__(self) -> None:  # noqa: D107 - click.Choice would materialise the names here
        self.case_sensitive = True

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        from modelport.sources.hf_tasks import TASKS

        return TASKS


_EXPORT_OPTIONS = [
    click.option("--opset", "opsets", multiple=True, default=("17",), show_default=True,
                 help="ONNX opset (repeatable), or 'min' for the lowest that exports and matches."),
    click.option("--out", type=click.Path(path_type=Path), help="Run directory [default: runs/<model>-<timestamp>]."),
    click.option("--exporter", type=click.Choice(["auto", "torchscript", "dynamo"]), default="auto",
                 show_default=True, help="ONNX exporter; auto: TorchScript-based for opsets 7-17, dynamo for 18 and "
                 "above (dynamo below 18: exported at 18, down-converted, verified)."),
    click.option("--method", type=click.Choice(["auto", "script", "trace"]), default="auto", show_default=True,
                 help="TorchScript capture; auto: script, falling back to trace with a recorded warning."),
    click.option("--state-dict", type=click.Path(path_type=str), help="A state_dict file (loaded with weights_only)."),
    click.option("--model-class", help="MODULE:CLASS or path/to/file.py:CLASS to build before loading --state-dict."),
    click.option("--model-args", help="JSON object of constructor keyword arguments."),
    click.option("--input", "inputs", multiple=True, metavar="NAME:SHAPE[:DTYPE[:LOW,HIGH]]",
                 help="Model input (repeatable); replaces the source's own spec."),
    click.option("--dynamic", "dynamic", multiple=True, metavar="NAME:AXIS[:SYMBOL]",
                 help="Make an input axis dynamic."),
    click.option("--dynamic-batch", is_flag=True, help="Make axis 0 of every input dynamic."),
    click.option("--simplify", is_flag=True,
                 help="Run onnxsim (in a subprocess); kept only if it still matches eager."),
    click.option("--optimize", "optimize", multiple=True, metavar="O0|O1|O2|O3",
                 help="Also ship the ONNX model at this onnxruntime level (repeatable), as onnx-opsetN-LEVEL: O0 none, "
                 "O1 basic, O2 transformer fusions + extended, O3 fusions + all. Each is validated."),
    click.option("--precision", "precision", multiple=True, default=("fp32",), show_default=True,
                 metavar="fp32|fp16|bf16|int8", help="Also ship this precision (repeatable): ONNX fp16/int8 "
                 "(onnx-opsetN-fp16, ...), TorchScript fp16/bf16, .pt2 fp16/bf16/int8 (int8: PT2E, needs torchao); "
                 "gated by task-metric agreement with fp32 eager (--quality)."),
    click.option("--calibration", type=click.Path(), metavar="FILE.npz",
                 help="int8 calibration samples keyed by input name [default: zoo samples at a seed no "
                 "validation or benchmark set uses]."),
    click.option("--calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
                 show_default=True, help="Static int8 calibration method."),
    click.option("--calibration-samples", type=click.IntRange(min=1), default=64, show_default=True,
                 help="Generated calibration samples."),
    click.option("--quantize", type=click.Choice(["auto", "static", "dynamic"]), default="auto", show_default=True,
                 help="int8: static QDQ (per-channel weights), dynamic (MatMul weights); auto: static with Convs."),
    click.option("--int8-keep-fp32", "int8_keep_fp32", multiple=True, metavar="OP|NODE",
                 help="ONNX int8: leave an operator type (Add, Gemm, ...) or a node (by name) in fp32 (repeatable)."),
    click.option("--inputs", "inputs_file", type=click.Path(), metavar="FILE.npz",
                 help="Your arrays (keyed by input name): validated like the seeded sets, and the samples the "
                 "quality gate of reduced precision judges on (instead of seeded ones)."),
    click.option("--class-output", "class_outputs", multiple=True, metavar="OUTPUT",
                 help="An output holding logits (repeatable), judged by top-1 agreement; default: from the zoo "
                 "task."),
    click.option("--quality", metavar="FRACTION|mlperf-99|mlperf-99.9", default=None,
                 help="Gate of reduced precision: task-metric agreement with fp32 eager [default: mlperf-99]."),
    click.option("--torchscript-keep-unfrozen", "keep_unfrozen", is_flag=True,
                 help="Ship TorchScript as scripted/traced, without torch.jit.freeze + optimize_for_inference."),
    click.option("--aoti-keep-unfrozen", "aoti_keep_unfrozen", is_flag=True,
                 help="Compile the AOTInductor package without inductor's freezing (weights stay plain constants, "
                 "not prepacked)."),
    click.option("--strict", is_flag=True, help="With --simplify: a failed or regressing simplification is an error."),
    click.option("--task", type=_TaskChoice(), metavar="TASK", default=None,
                 help="Hugging Face task to export (feature-extraction, fill-mask, question-answering, "
                 "image-classification, ...) [default: from config.json's architectures]."),
    click.option("--trust-remote-code", is_flag=True,
                 help="Allow a Hugging Face directory's own Python code (config.json auto_map) to run."),
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Seed for weights of zoo models and inputs."),
    click.option("--atol", type=float, help="Absolute tolerance of the equivalence checks, for float outputs "
                 "[default: per dtype (fp32 1e-5), or the zoo model's own, e.g. resnet50 1e-3]."),
    click.option("--rtol", type=float, help="Relative tolerance of the equivalence checks, for float outputs "
                 "[default: per dtype (fp32 1e-5)]."),
]


def _param_name(option: Callable[..., Any]) -> str:
    def probe() -> None: ...

    return option(probe).__click_params__[0].name


#: the parameter names ``export_options`` adds, so ``run`` can split its keyword arguments
EXPORT_PARAMS = frozenset(_param_name(opt) for opt in _EXPORT_OPTIONS)


def export_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The source and export options shared by ``convert`` and ``run`` (not ``--to``: their defaults differ)."""
    for opt in reversed(_EXPORT_OPTIONS):
        f = opt(f)
    return f


def make_convert_options(targets: tuple[str, ...], validate: bool, trust_pickle: bool, **kw: Any) -> Any:
    """``ConvertOptions`` from the parsed ``export_options``."""
    from modelport.converters.options import ConvertOptions
    from modelport.converters.precision import refuse_unbuildable
    from modelport.sources import parse_model_args
    from modelport.spec import parse_dynamic_option, parse_input_option
    from modelport.validators.options import parse_quality

    source_options = {
        "state_dict": kw["state_dict"], "model_class": kw["model_class"],
        "model_args": parse_model_args(kw["model_args"]), "trust_pickle": trust_pickle,
        "trust_remote_code": kw["trust_remote_code"], "task": kw["task"],
        "inputs": [parse_input_option(i) for i in kw["inputs"]],
        "dynamic": [parse_dynamic_option(d) for d in kw["dynamic"]], "dynamic_batch": kw["dynamic_batch"],
    }
    refuse_unbuildable(targets, tuple(kw["precision"]))  # an optional extra missing: before loading anything
    _refuse_idle_precision_options(kw)
    return ConvertOptions(targets=targets, opsets=kw["opsets"], exporter=kw["exporter"], method=kw["method"],
                          simplify=kw["simplify"], strict=kw["strict"], seed=kw["seed"], validate=validate,
                          out=kw["out"], atol=kw["atol"], rtol=kw["rtol"], source_options=source_options,
                          optimize=tuple(kw["optimize"]), freeze_torchscript=not kw["keep_unfrozen"],
                          freeze_aoti=not kw["aoti_keep_unfrozen"],
                          precision=tuple(kw["precision"]), calibration=kw["calibration"],
                          calibration_method=kw["calibration_method"],
                          calibration_samples=kw["calibration_samples"], quantize=kw["quantize"],
                          int8_keep_fp32=tuple(kw["int8_keep_fp32"]),
                          quality=parse_quality(kw["quality"]), inputs_file=kw["inputs_file"],
                          class_outputs=tuple(kw["class_outputs"]))


def _refuse_idle_precision_options(kw: dict[str, Any]) -> None:
    """Reduced precision's own options given where they change nothing are refused, not ignored (as
    --calibration is)."""
    asked = [str(p).strip().lower() for p in kw["precision"]]
    if _given(("quality",)) and not set(asked) - {"fp32"}:
        raise InputError("--quality gates reduced-precision artifacts, and no --precision fp16|bf16|int8 was "
                         "asked for", "add one, or drop --quality (fp32 artifacts are held to element tolerances)")
    given = _given(("calibration_method", "calibration_samples", "quantize", "int8_keep_fp32"))
    if not given:
        return
    flags = ", ".join("--" + name.replace("_", "-") for name in given)
    if "int8" not in asked:
        raise InputError(f"{flags}: int8 options, and no --precision int8 was asked for", "add --precision int8")
    static_only = [n for n in given if n.startswith("calibration")]
    if kw["quantize"] == "dynamic" and static_only:
        raise InputError(f"--{static_only[0].replace('_', '-')} applies to static int8; dynamic int8 is not "
                         "calibrated", "drop it, or use --quantize static")


def _given(names: tuple[str, ...]) -> list[str]:
    """Which of these parameters the command line set (not their defaults)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return []
    return [n for n in names if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]


#: ``--to`` choices (``all`` means torchscript, onnx and pt2; aoti is asked for by name)
TARGET_CHOICES = ["torchscript", "onnx", "pt2", "aoti", "all"]


@click.command("convert")
@click.argument("source", required=False)
@click.option("--to", "targets", multiple=True, default=("onnx",), show_default=True,
              type=click.Choice(TARGET_CHOICES), help="Target format (repeatable); aoti compiles with "
              "AOTInductor (needs a C++ compiler; about a minute per small model).")
@export_options
@click.option("--trust-pickle", is_flag=True, help="Allow loading a whole pickled model (executes code from the file).")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="Compare every artifact with the eager model (a gate on the quick input sets, then the full "
              "validation report).")
@json_option
@quiet_option
def convert(source: str | None, targets: tuple[str, ...], trust_pickle: bool, validate: bool, as_json: bool,
            quiet: bool, **kw: Any) -> None:
    """Export SOURCE (zoo:NAME, a model file or directory) to TorchScript, ONNX, .pt2 and/or AOTInductor.

    Every export is checked (opset in the file, onnx.checker, onnxruntime, dynamic axes, outputs equal to
    the eager model on the quick input sets) before the run directory appears; validation.json then holds the
    full comparison.
    """
    from modelport.converters.pipeline import convert as run_convert

    options = make_convert_options(targets, validate, trust_pickle, **kw)
    progress = Progress.for_cli(quiet, as_json)
    result = run_convert(source, options, progress)
    progress.done()
    manifest = result.manifest
    for w in manifest.warnings:
        warn(w, quiet or as_json)
    for a in manifest.artifacts:
        for w in a.warnings:
            warn(f"{a.id}: {w}", quiet or as_json)
    if as_json:
        emit_json(result.to_json())
        return
    if quiet:
        return
    click.echo(f"run directory: {result.run_dir}")
    for a in manifest.artifacts:
        detail = _detail(a)
        eq = a.extra.get("equivalence")
        check = "" if not eq else (" matches eager (max abs " +
                                   f"{max(s['max_abs'] for s in eq['sets']):.2g})")
        simp = ", simplified" if a.simplified else ""
        # a generative artifact is a folder of components (docs/decisions.md, "Generative models: components ...")
        path = f"{a.id}/ ({', '.join(c.name for c in a.components)})" if a.components else a.path
        click.echo(f"  {path:<24} {a.size_bytes / 1e6:8.2f} MB  {detail}{simp}; {a.export_time_s:.1f} s{check}")
    if result.validation is not None:
        click.echo("validation: passed (validation.json)")


def _detail(a: Any) -> str:
    """One artifact's line in the text output: how it was made, then its precision and quality gate."""
    prec = a.extra.get("precision", {})
    gate = a.extra.get("quality_gate", {}).get("results", [])
    return _made(a) + (f", {prec['precision']}" + (f" ({prec['mode']})" if "mode" in prec else "") if prec
                       else "") + (f", {gate[0]['output']} {gate[0]['agreement']:.4f} >= "
                                   f"{a.extra['quality_gate']['threshold']:g}" if gate else "")


def _made(a: Any) -> str:
    if a.target == "onnx":
        level = a.extra.get("optimize", {}).get("level")
        return f"opset {a.opset}, {a.exporter} exporter, IR {a.ir_version}" + (f", {level}" if level else "")
    if a.target == "torchscript":
        return f"{a.method}, {'frozen' if a.extra.get('frozen') else 'unfrozen'}"
    if a.target == "aoti":
        return f"AOTInductor, compiled in {a.extra.get('compile_time_s', 0):.0f} s"
    return "torch.export"
