"""``modelport validate``: prove artifacts compute the same function as the eager model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from modelport.commands.common import emit_json, json_option, quiet_option
from modelport.errors import InputError, ValidationFailed

if TYPE_CHECKING:  # the command loads the validators (and torch) only when it runs
    from modelport.progress import Progress
    from modelport.validators import ValidationOptions, ValidationReport
    from modelport.validators.localize_run import Localized


def _batch_sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        sizes = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise InputError(f"--batch-sizes {text!r} must be comma-separated integers like 1,8") from None
    if not sizes or any(n < 1 for n in sizes):
        raise InputError(f"--batch-sizes {text!r} must list positive batch sizes")
    return sizes


def _reference_from_source(source: str, state_dict: str | None, model_class: str | None, model_args: str | None,
                           inputs: tuple[str, ...], dynamic: tuple[str, ...], dynamic_batch: bool,
                           trust_pickle: bool, trust_remote_code: bool, seed: int):
    """Load the eager model as convert does; ``--input`` replaces the source's own input spec."""
    from modelport.sources import load_source, parse_model_args
    from modelport.spec import apply_dynamic, parse_dynamic_option, parse_input_option

    loaded = load_source(source, state_dict=state_dict, model_class=model_class,
                         model_args=parse_model_args(model_args), trust_pickle=trust_pickle,
                         trust_remote_code=trust_remote_code, seed=seed)
    if loaded.components:  # several graphs driven by a generation loop, not one file against one module
        raise InputError(f"{source!r} is a generative model ({loaded.record.task}): its files are validated together, "
                         "with greedy generation", "convert it and run modelport validate RUN_DIR")
    specs = [parse_input_option(t) for t in inputs] if inputs else list(loaded.inputs)
    if inputs or dynamic or dynamic_batch:
        specs = apply_dynamic(specs, [parse_dynamic_option(t) for t in dynamic], dynamic_batch)
    return loaded, specs


def _onnx_output_names(path: str) -> list[str]:
    import onnx

    try:
        return [o.name for o in onnx.load(path, load_external_data=False).graph.output]
    except Exception:  # noqa: BLE001 - a broken file is reported when its runner fails to load it
        return []


def _validate_run_dir(targets: tuple[str, ...], source_only: list[str], options: ValidationOptions,
                      progress: Progress) -> ValidationReport:
    """``validate RUN_DIR``: the run records its source, so flags that describe one are a mistake."""
    from modelport.validators import validate_run

    if len(targets) != 1:
        raise InputError("give one RUN_DIR, or --reference SOURCE followed by artifact files",
                         "e.g. modelport validate runs/resnet50")
    if source_only:
        raise InputError(f"{', '.join(source_only)} describe a --reference source; a run directory already "
                         "records its source", "drop them, or use --reference SOURCE ARTIFACT...")
    return validate_run(Path(targets[0]), options=options, progress=progress)


def _generative_run(targets: tuple[str, ...]) -> bool:
    """A single RUN_DIR whose artifacts hold components (a generative Hugging Face task)."""
    from modelport.manifest import load_manifest

    if len(targets) != 1 or not Path(targets[0]).is_dir():
        return False
    return any(a.components for a in load_manifest(targets[0]).artifacts)


def _validate_generative(run_dir: str, options: ValidationOptions, new_tokens: int, as_json: bool, quiet: bool,
                         progress: Progress) -> None:
    """Components against their eager wrappers, then greedy tokens against eager generate (exit 4 naming the
    first differing step)."""
    from modelport.manifest import load_manifest
    from modelport.validators.generation import render, validate_run_dir

    progress.step("validating components and greedy generation against the eager model")
    report = validate_run_dir(Path(run_dir), load_manifest(run_dir), options, new_tokens)
    progress.done()
    if as_json:
        emit_json(report.to_json())
    elif not quiet:
        click.echo(render(report))
    if not report.passed:
        raise ValidationFailed(report.failure_message())


def _validate_files(reference: str, targets: tuple[str, ...], source: dict[str, Any], options: ValidationOptions,
                    progress: Progress) -> ValidationReport:
    """``validate --reference SOURCE ARTIFACT...``: load the source as convert does, judge each file."""
    from modelport.validators import kind_from_path, validate_artifacts
    from modelport.validators.comparator import resolve_zoo_defaults

    if not targets:
        raise InputError("--reference needs at least one artifact file to validate",
                         "e.g. modelport validate --reference zoo:tiny-cnn model.onnx")
    if options.artifact_ids:
        raise InputError("--artifact selects artifacts of a RUN_DIR; with --reference name the files instead")
    loaded, specs = _reference_from_source(reference, source["state_dict"], source["model_class"],
                                           source["model_args"], source["input_specs"], source["dynamic"],
                                           source["dynamic_batch"], source["trust_pickle"],
                                           source["trust_remote_code"], source["seed"])
    if len(set(targets)) != len(targets):
        raise InputError("an artifact file is named twice", "name each file once")
    artifacts = [(kind_from_path(path), path, path) for path in targets]  # the id is the path as typed
    output_names = source["output_names"]
    names = ([n.strip() for n in output_names.split(",") if n.strip()] if output_names
             else list(loaded.output_names))
    if not names:
        names = next((_onnx_output_names(p) for k, p, _ in artifacts if k == "onnx"), [])
    report = validate_artifacts(loaded.module, specs, names, artifacts, resolve_zoo_defaults(options, reference),
                                progress)
    report.reference["source"] = reference
    return report


def _localize(report: ValidationReport, targets: tuple[str, ...], reference: str | None, source: dict[str, Any],
              options: ValidationOptions, explicit: bool, against: str | None) -> Localized | None:
    """``--localize`` (or a failed artifact): where each ONNX artifact leaves the model (docs/decisions.md,
    "Localization: nodes to modules"); the result joins validation.json."""
    from modelport.errors import ModelportError
    from modelport.manifest import load_manifest, verify_artifact_files
    from modelport.sources import reload_source
    from modelport.validators import REPORT_NAME, kind_from_path
    from modelport.validators.localize_run import VALUE_FAILURES, Target, localize_report, record

    if not explicit and not any(f.kind in VALUE_FAILURES for f in report.failures):
        return None  # nothing computed a different value: there is nothing to localize
    try:
        if reference is None:
            manifest = load_manifest(targets[0])
            onnx_arts = [a for a in manifest.artifacts if a.target == "onnx"]
            for a in onnx_arts:  # --against or the fp32 base may be outside --artifact: same checks as validate
                verify_artifact_files(targets[0], a)
            run = [Target(a.id, Path(targets[0]) / a.path, a.target, a.extra.get("precision", {}).get("precision",
                                                                                                      "fp32"))
                   for a in onnx_arts]
            localized = localize_report(report, run, lambda: reload_source(
                manifest.source, trust_pickle=options.trust_pickle, trust_remote_code=options.trust_remote_code,
                seed=manifest.seed), list(manifest.inputs), options, explicit, against)
            if localized.results or localized.notes:
                record(targets[0], localized, REPORT_NAME)
            return localized
        loaded, specs = _reference_from_source(reference, source["state_dict"], source["model_class"],
                                               source["model_args"], source["input_specs"], source["dynamic"],
                                               source["dynamic_batch"], source["trust_pickle"],
                                               source["trust_remote_code"], source["seed"])
        files = [Target(p, Path(p), kind_from_path(p)) for p in targets]
        return localize_report(report, files, lambda: loaded.module, specs, options, explicit, against)
    except ModelportError as e:
        if explicit:
            raise
        click.echo(f"modelport: localization skipped: {e}", err=True)  # the validation's own verdict stands
        return None


def _compare_onnx(reference: str, targets: tuple[str, ...], input_specs: tuple[str, ...],
                  options: ValidationOptions, as_json: bool, quiet: bool) -> None:
    """``validate --reference a.onnx b.onnx|RUN_DIR``: ONNX against ONNX, layer by layer (no eager model)."""
    from modelport.manifest import load_manifest, verify_artifact_files
    from modelport.spec import parse_input_option
    from modelport.validators import kind_from_path
    from modelport.validators.localize_run import Target, compare_files

    if not Path(reference).is_file():
        raise InputError(f"reference {reference!r} does not exist")
    files: list[Target] = []
    specs = [parse_input_option(t) for t in input_specs] or None
    for t in targets:
        if Path(t).is_dir():
            manifest = load_manifest(t)
            specs = specs or list(manifest.inputs)
            arts = [a for a in manifest.artifacts
                    if a.target == "onnx" and (not options.artifact_ids or a.id in options.artifact_ids)]
            for a in arts:  # inside the run directory and unmodified, as validate RUN_DIR requires
                verify_artifact_files(t, a)
            files += [Target(a.id, Path(t) / a.path, a.target) for a in arts]
        else:
            files.append(Target(t, Path(t), kind_from_path(t)))
    reports = compare_files(reference, files, specs, options)
    passed = all(r.passed for r in reports)
    if as_json:
        emit_json({"passed": passed, "reference": reference, "layerwise": [r.to_json() for r in reports]})
    elif not quiet:
        click.echo("\n".join(r.render() for r in reports))
    if not passed:
        raise ValidationFailed(next(r.failure() for r in reports if not r.passed))


@click.command("validate")
@click.argument("targets", nargs=-1, metavar="RUN_DIR | --reference SOURCE ARTIFACT...")
@click.option("--reference", "reference", metavar="SOURCE",
              help="Validate ARTIFACT files against this model (zoo:NAME, or a file as for convert).")
@click.option("--state-dict", type=click.Path(), help="With --reference: weights file for --model-class.")
@click.option("--model-class", help="With --reference: MODULE:CLASS or path/to/file.py:CLASS.")
@click.option("--model-args", help="With --reference: constructor keyword arguments as a JSON object.")
@click.option("--input", "input_specs", multiple=True, metavar="NAME:SHAPE[:DTYPE[:LOW,HIGH]]",
              help="With --reference: an input of the model (repeatable); default: the source's own spec.")
@click.option("--dynamic", multiple=True, metavar="NAME:AXIS[:SYMBOL]", help="With --input: a dynamic axis.")
@click.option("--dynamic-batch", is_flag=True, help="With --input: axis 0 of every input is dynamic.")
@click.option("--output-names", help="With --reference: comma-separated output names, when the source has none.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a whole pickled model (executes its code).")
@click.option("--trust-remote-code", is_flag=True,
              help="Allow a Hugging Face directory's own Python code (config.json auto_map) to run.")
@click.option("--inputs", "inputs_file", type=click.Path(), metavar="FILE.npz",
              help="Also validate on these arrays (keyed by input name); the agreement and quality gates then "
              "judge these rows instead of seeded samples.")
@click.option("--atol", multiple=True, metavar="[OUTPUT:]VALUE",
              help="Absolute tolerance, for every output or one (repeatable). Default per dtype (fp32 1e-5).")
@click.option("--rtol", multiple=True, metavar="[OUTPUT:]VALUE", help="Relative tolerance, like --atol.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Input seed [default: the run's seed]; with --reference also the zoo weights' seed [0].")
@click.option("--batch-sizes", metavar="N,M", help="Other batch sizes for a dynamic batch (default: 1 and 2b+1).")
@click.option("--topk", type=click.IntRange(min=1), default=None,
              help="Report top-K agreement of classification-like outputs (and use it in the gate).")
@click.option("--min-agreement", type=float, default=None, metavar="FRACTION",
              help="Quality gate: top-k agreement with the reference over --samples must be at least this.")
@click.option("--samples", type=click.IntRange(min=1), default=100, show_default=True,
              help="Seeded samples for --min-agreement and --quality (with --inputs, the gate judges your "
              "rows instead).")
@click.option("--quality", metavar="FRACTION|mlperf-99|mlperf-99.9", default=None,
              help="Gate of reduced-precision artifacts (fp16, int8): task-metric agreement with the fp32 eager "
              "model at least this [default: mlperf-99]; their element differences are reported, not gated.")
@click.option("--class-output", "class_outputs", multiple=True, metavar="OUTPUT",
              help="An output holding logits (repeatable); default: from the zoo task.")
@click.option("--artifact", "artifact_ids", multiple=True, metavar="ID", help="With RUN_DIR: only this artifact.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads for the runners.")
@click.option("--localize", is_flag=True,
              help="Name the first ONNX node (and its torch module) whose output leaves the eager model's; "
              "fp16/int8 ONNX: a layer-wise table against the fp32 ONNX artifact. Automatic when one fails.")
@click.option("--against", metavar="ID", default=None,
              help="With --localize: compare ONNX artifacts layer by layer with this artifact instead.")
@click.option("--new-tokens", type=click.IntRange(min=1), default=8, show_default=True,
              help="Generative runs: greedy tokens that must equal the eager model's generate().")
@json_option
@quiet_option
def validate(targets: tuple[str, ...], reference: str | None, state_dict: str | None, model_class: str | None,
             model_args: str | None, input_specs: tuple[str, ...], dynamic: tuple[str, ...], dynamic_batch: bool,
             output_names: str | None, trust_pickle: bool, trust_remote_code: bool, inputs_file: str | None,
             atol: tuple[str, ...], rtol: tuple[str, ...], seed: int | None, batch_sizes: str | None, topk: int | None,
             min_agreement: float | None, samples: int, quality: str | None, class_outputs: tuple[str, ...],
             artifact_ids: tuple[str, ...], threads: int | None, localize: bool, against: str | None,
             new_tokens: int, as_json: bool, quiet: bool) -> None:
    """Run the eager model and every artifact on the same seeded inputs and compare each output.

    \b
    modelport validate RUN_DIR                      every artifact of a convert run
    modelport validate --reference zoo:tiny-cnn model.onnx model.pt
    modelport validate RUN_DIR --localize           where an ONNX artifact first leaves the model
    modelport validate --reference fp32.onnx int8.onnx   ONNX against ONNX, layer by layer
    Exit status 4 when any artifact differs; the message names the artifact, output, statistic and tolerance.
    """
    from modelport.progress import Progress
    from modelport.runners import RunnerOptions
    from modelport.validators import ValidationOptions, parse_tolerances
    from modelport.validators.options import parse_quality

    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise InputError(f"--min-agreement {min_agreement:g} must be a fraction between 0 and 1", "e.g. 0.99")
    options = ValidationOptions(
        atol=parse_tolerances(atol, "--atol"), rtol=parse_tolerances(rtol, "--rtol"), seed=seed,
        batch_sizes=_batch_sizes(batch_sizes), inputs_file=inputs_file, topk=topk, min_agreement=min_agreement,
        samples=samples, quality=parse_quality(quality), class_outputs=list(class_outputs) or None,
        trust_pickle=trust_pickle,
        trust_remote_code=trust_remote_code, artifact_ids=list(artifact_ids) or None,
        runner=RunnerOptions(threads=threads, trust_pickle=trust_pickle, ort_mem_arena=False))
    progress = Progress.for_cli(quiet, as_json)
    source = {"state_dict": state_dict, "model_class": model_class, "model_args": model_args,
              "input_specs": input_specs, "dynamic": dynamic, "dynamic_batch": dynamic_batch,
              "output_names": output_names, "trust_pickle": trust_pickle, "trust_remote_code": trust_remote_code,
              "seed": seed or 0}
    if reference is not None and reference.lower().endswith(".onnx"):
        _compare_onnx(reference, targets, input_specs, options, as_json, quiet)
        return
    if reference is None and _generative_run(targets):
        if localize or against is not None:
            raise InputError("--localize/--against do not apply to a generative run yet; its report names the "
                             "first differing token step and the component that differs", "drop them")
        _validate_generative(targets[0], options, new_tokens, as_json, quiet, progress)
        return
    if against is not None and reference is None and len(targets) == 1:
        from modelport.manifest import load_manifest

        load_manifest(targets[0]).artifact(against)  # a typo is refused before minutes of validation
    if reference is None:
        source_only = [n for n, v in (("--state-dict", state_dict), ("--model-class", model_class),
                                      ("--model-args", model_args), ("--input", input_specs),
                                      ("--output-names", output_names)) if v]
        report = _validate_run_dir(targets, source_only, options, progress)
    else:
        report = _validate_files(reference, targets, source, options, progress)
    progress.done()
    localized = None
    if localize or against or not report.passed:
        localized = _localize(report, targets, reference, source, options, localize or against is not None,
                              against)
    _finish(report, localized, as_json, quiet)


def _finish(report: ValidationReport, localized: Localized | None, as_json: bool, quiet: bool) -> None:
    """Print the report (and any localization), then fail with one line when an artifact differs."""
    from modelport.validators.render import render_table

    if as_json:
        emit_json({**report.to_json(), **(localized.to_json() if localized else {})})
    elif not quiet:
        click.echo(render_table(report))
        if localized and (localized.results or localized.notes):
            click.echo(localized.render())
    if not report.passed:
        where = localized.summary() if localized else None
        raise ValidationFailed(report.failure_message() + (f"; {where}" if where else ""))
